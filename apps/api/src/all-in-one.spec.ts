import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '@lookalike/shared/config';
import { SqlImageRepository } from '@lookalike/shared/db/image-repository';
import { migrate } from '@lookalike/shared/db/migrate';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import { PgVectorIndex } from '@lookalike/shared/db/vector-index';
import { beyondSharedBuffersWarning, startAllInOne } from './all-in-one.js';
import { testNewImage } from '../../../test/fixtures/new-image.js';

test('npm start on PGlite warns, with both sizes and what to set, when the HNSW indexes outgrow PGLITE_SHARED_BUFFERS', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-all-in-one-'));
  try {
    // A database from an earlier run: a 1024-d model's index of ~75 pages (0.6 MiB).
    const db = await PGliteClient.open(path.join(dataDir, 'pgdata'));
    await migrate(db);
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ('earlier:1024', 1024, '{}', 'retired')");
    const index = new PgVectorIndex(db, { efSearch: 40 });
    await index.prepare('earlier:1024', 1024);
    const images = new SqlImageRepository(db);
    for (let i = 0; i < 80; i++) {
      const image = await images.create(testNewImage(i));
      await index.upsert(image.id, 'earlier:1024', Float32Array.from({ length: 1024 }, (_, j) => Math.sin(i * 1024 + j)));
    }
    await db.close();

    const start = async (sharedBuffers: string) => {
      const warnings: string[] = [];
      const config = loadConfig({ MODEL: 'tiny', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'silent', PGLITE_SHARED_BUFFERS: sharedBuffers });
      const service = await startAllInOne(config, { warn: (m) => warnings.push(m) });
      await service.close();
      return warnings.filter((w) => w.includes('PGLITE_SHARED_BUFFERS'));
    };
    const [warning, ...more] = await start('256kB');
    assert.equal(more.length, 0);
    assert.match(
      warning,
      /^PGlite's HNSW indexes \(0\.[4-9] MiB\) do not fit in its buffer cache \(0\.3 MiB, PGLITE_SHARED_BUFFERS=256kB\): .*Set PGLITE_SHARED_BUFFERS to auto or above 1MB \(at most 1536MB\), or use PostgreSQL \(DATABASE_URL\)\.$/,
    );
    assert.deepEqual(await start('128MB'), [], 'no warning when the indexes fit');
    assert.deepEqual(await start('auto'), [], 'nor with auto');
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});

test('the warning says what to do: raise the setting, leave auto for a larger one, or move to PostgreSQL', () => {
  assert.match(beyondSharedBuffersWarning({ indexesMiB: 1200.4, sharedBuffersMiB: 1024 }, 'auto'), /\(1024 MiB, PGLITE_SHARED_BUFFERS=auto\).* auto stops at 1024MB: set PGLITE_SHARED_BUFFERS above 1201MB \(at most 1536MB\), or use PostgreSQL/);
  for (const setting of ['auto', '1536MB']) {
    const warning = beyondSharedBuffersWarning({ indexesMiB: 1900, sharedBuffersMiB: 1024 }, setting);
    assert.match(warning, /That is more than PGlite can hold \(at most 1536MB\): use PostgreSQL \(DATABASE_URL\)\.$/, setting);
    assert.doesNotMatch(warning, /Set PGLITE|set PGLITE/);
  }
});
