// The production adapters, end to end: `pg` + pgvector over the wire (PGlite served by
// pglite-socket) and the `minio` client against an S3-speaking server (s3rver).
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { MinioObjectStore } from '@lookalike/shared/adapters/minio-object-store';
import { PgClient } from '@lookalike/shared/db/pg-client';
import { freePort } from '@lookalike/shared/local-redis';
import S3rver from 's3rver';
import { distinctImage } from './fixtures/images.js';
import { type TestService, startTestService, subscribeFor } from './helpers/service.js';

describe('production adapters: pg over the wire and MinIO client against s3rver', () => {
  let s3: S3rver;
  let s3Dir: string;
  let s3Endpoint: string;
  let pglite: PGlite;
  let socket: PGLiteSocketServer;
  let databaseUrl: string;
  let svc: TestService;

  before(async () => {
    s3Dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-s3-'));
    const s3Port = await freePort();
    s3 = new S3rver({ port: s3Port, address: '127.0.0.1', directory: s3Dir, silent: true });
    await s3.run();
    s3Endpoint = `http://127.0.0.1:${s3Port}`;
    pglite = await PGlite.create({ extensions: { vector } });
    const pgPort = await freePort();
    socket = new PGLiteSocketServer({ db: pglite, port: pgPort, host: '127.0.0.1', maxConnections: 4 });
    await socket.start();
    databaseUrl = `postgres://postgres:postgres@127.0.0.1:${pgPort}/postgres`;
    svc = await startTestService({
      DATABASE_URL: databaseUrl,
      // PGlite is one session: one pooled connection keeps transactions from interleaving.
      DATABASE_POOL_SIZE: '1',
      S3_ENDPOINT: s3Endpoint,
      S3_ACCESS_KEY: 'S3RVER',
      S3_SECRET_KEY: 'S3RVER',
      S3_BUCKET: 'lookalike-test',
    });
  });

  after(async () => {
    await svc?.stop();
    await socket?.stop();
    await pglite?.close();
    await s3?.close();
    await fs.rm(s3Dir, { recursive: true, force: true });
  });

  test('the service runs on the pg adapter and stores originals through the minio client', async () => {
    assert.ok(svc.db instanceof PgClient);
    const feed = subscribeFor<any>(svc.ws(), `subscription { classificationReady(collection: "wire") { label image { id status } } }`, {}, 2);
    await new Promise((r) => setTimeout(r, 300));
    const up = async (seed: number, label?: string) => {
      const res = await svc.upload(
        `mutation ($f: Upload!, $l: String) { uploadImage(file: $f, collection: "wire", label: $l) { id sha256 } }`,
        { l: label },
        { field: 'f', bytes: await distinctImage(seed) },
      );
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      return res.data.uploadImage as { id: string; sha256: string };
    };
    const ref = await up(5, 'five');
    const query = await up(5); // same bytes: one object, two rows
    const events = await feed;
    assert.ok(events.every((e) => e.classificationReady.image.status === 'READY'));
    const q = events.find((e) => e.classificationReady.image.id === query.id);
    assert.equal(q.classificationReady.label, 'five');

    const store = await MinioObjectStore.connect({ endpoint: s3Endpoint, accessKey: 'S3RVER', secretKey: 'S3RVER', bucket: 'lookalike-test', region: 'us-east-1' });
    const key = `originals/${ref.sha256.slice(0, 2)}/${ref.sha256}`;
    assert.equal(await store.exists(key), true);
    assert.deepEqual(await store.get(key), await distinctImage(5));
  });

  test('MinioObjectStore: put, get, exists, delete, missing keys', async () => {
    const store = await MinioObjectStore.connect({ endpoint: s3Endpoint, accessKey: 'S3RVER', secretKey: 'S3RVER', bucket: 'another-bucket', region: 'us-east-1' });
    const bytes = Buffer.from([1, 2, 3, 255]);
    assert.equal(await store.exists('a/b'), false);
    await store.put('a/b', bytes, 'application/octet-stream');
    assert.equal(await store.exists('a/b'), true);
    assert.deepEqual(await store.get('a/b'), bytes);
    await store.delete('a/b');
    assert.equal(await store.exists('a/b'), false);
    await assert.rejects(store.get('a/b'));
  });

  test('PgClient: a database host that takes the connection and never answers fails within the connect timeout', async () => {
    // A black hole, as a dropped route or a failover half-way looks: TCP accepts, Postgres never speaks.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const { port } = silent.address() as net.AddressInfo;
    const started = Date.now();
    try {
      await assert.rejects(PgClient.connect(`postgres://u:p@127.0.0.1:${port}/db`, 1, 300), /timeout/i);
      assert.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  test('PgClient transactions roll back on error', async () => {
    const db = await PgClient.connect(databaseUrl, 1);
    try {
      await db.exec('CREATE TABLE IF NOT EXISTS tx_probe (n int)');
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO tx_probe VALUES (1)');
          throw new Error('boom');
        }),
        /boom/,
      );
      const [{ n }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_probe');
      assert.equal(n, 0);
    } finally {
      await db.close();
    }
  });

  test('PgClient transactions: local settings sent with BEGIN hold inside only; bad names or values are refused', async () => {
    const db = await PgClient.connect(databaseUrl, 1);
    try {
      const read = "SELECT current_setting('hnsw.ef_search', true) AS ef, current_setting('enable_seqscan') AS seq";
      const inside = await db.transaction((tx) => tx.query<{ ef: string; seq: string }>(read), { settings: { 'hnsw.ef_search': '123', enable_seqscan: 'off' } });
      assert.deepEqual(inside[0], { ef: '123', seq: 'off' });
      const outside = await db.query<{ seq: string }>(read);
      assert.equal(outside[0].seq, 'on', 'the one pooled connection is clean again');
      await assert.rejects(db.transaction(async () => 1, { settings: { "x'; DROP TABLE tx_probe; --": '1' } }), /Not a setting name/);
      await assert.rejects(db.transaction(async () => 1, { settings: { 'hnsw.ef_search': "1'); DROP TABLE tx_probe; --" } }), /characters/);
      await db.query('SELECT count(*) FROM tx_probe');
    } finally {
      await db.close();
    }
  });

  test('PgClient read-only transactions answer before COMMIT, refuse writes, and leave the one connection usable', async () => {
    const db = await PgClient.connect(databaseUrl, 1);
    try {
      await db.exec('CREATE TABLE IF NOT EXISTS tx_probe (n int)');
      for (let i = 0; i < 5; i++) {
        const [row] = await db.transaction((tx) => tx.query<{ ro: string }>("SELECT current_setting('transaction_read_only') AS ro"), { readOnly: true });
        assert.equal(row.ro, 'on');
      }
      await assert.rejects(db.transaction((tx) => tx.query('INSERT INTO tx_probe VALUES (2)'), { readOnly: true }), /read-only transaction/);
      const [after] = await db.query<{ ro: string; n: number }>("SELECT current_setting('transaction_read_only') AS ro, (SELECT count(*)::int FROM tx_probe) AS n");
      assert.deepEqual(after, { ro: 'off', n: 0 }, 'the connection is out of the read-only transaction');
    } finally {
      await db.close();
    }
  });
});
