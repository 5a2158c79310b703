import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { startPgliteWire, stopPgliteWire } from '../../../../test/helpers/pglite-wire.js';
import { freePort } from '../local-redis.js';
import { migrate, waitForMigrations } from './migrate.js';
import { PgClient } from './pg-client.js';
import { PGliteClient } from './pglite-client.js';

// Replicas as deployed: `pg` connections over the wire to one database (PGlite behind pglite-socket).
describe('migrations run once, however many replicas start together', () => {
  let pglite: PGlite;
  let wire: PGLiteSocketServer;
  let url: string;
  const clients: PgClient[] = [];

  before(async () => {
    pglite = await PGlite.create({ extensions: { vector } });
    const port = await freePort();
    wire = await startPgliteWire(pglite, port);
    url = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  });
  after(async () => {
    for (const c of clients) await c.close();
    await stopPgliteWire(wire);
    await pglite.close();
  });

  const connect = async () => {
    const c = await PgClient.connect(url, 2);
    clients.push(c);
    return c;
  };

  test('MIGRATE_ON_START=false replicas wait for the migration; three replicas migrating at once apply each file once', async () => {
    const waiting = [await connect(), await connect()].map((c) => waitForMigrations(c, 20_000));
    const settled = await Promise.race([Promise.all(waiting).then(() => 'ready'), new Promise((r) => setTimeout(() => r('waiting'), 700))]);
    assert.equal(settled, 'waiting', 'nothing has migrated yet');
    const runs = await Promise.all([connect(), connect(), connect()].map(async (c) => migrate(await c)));
    const applied = runs.flat();
    assert.ok(applied.length > 0);
    assert.equal(new Set(applied).size, applied.length, `a file applied twice: ${applied}`);
    assert.deepEqual(runs.filter((r) => r.length > 0).length, 1, 'one replica did it all, the others found nothing to do');
    await Promise.all(waiting);
  });
});

test('a replica that must not migrate gives up with what to do, when nobody migrates', async () => {
  const db = await PGliteClient.open();
  try {
    await assert.rejects(waitForMigrations(db, 600), /lacks migrations .*001_init\.sql.*run `npm run migrate`/);
  } finally {
    await db.close();
  }
});
