import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { prng } from '../../../../test/fixtures/images.js';
import { testNewImage } from '../../../../test/fixtures/new-image.js';
import { SqlImageRepository } from './image-repository.js';
import { migrate } from './migrate.js';
import { openPGliteSizedForIndexes, PGLITE_AUTO_FLOOR_MB, PGLITE_AUTO_MAX_MB, sharedBuffersToHold } from './pglite-buffers.js';
import { PGliteClient } from './pglite-client.js';
import { hnswIndexAndBufferBytes, PgVectorIndex } from './vector-index.js';

const MiB = 2 ** 20;

test('auto holds the HNSW indexes and a quarter more, never below the floor nor above 1GB', () => {
  assert.equal(PGLITE_AUTO_FLOOR_MB, 128, "PGlite's own default");
  assert.equal(sharedBuffersToHold(0), 128);
  assert.equal(sharedBuffersToHold(102 * MiB), 128, '102 MiB and a quarter fit in 128MB');
  assert.equal(sharedBuffersToHold(103 * MiB), 129);
  assert.equal(sharedBuffersToHold(781 * MiB), 977, 'the 100k-vector index of bench:load');
  assert.equal(sharedBuffersToHold(900 * MiB), PGLITE_AUTO_MAX_MB);
  assert.equal(sharedBuffersToHold(5000 * MiB), 1024);
  assert.equal(sharedBuffersToHold(0.5 * MiB, 1), 1);
  assert.equal(sharedBuffersToHold(1.3 * MiB, 1), 2);
});

test('opening with auto: a database whose HNSW index outgrew the floor is opened again with room for it, its data intact', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-pglite-auto-'));
  try {
    const fresh = await openPGliteSizedForIndexes(dataDir, 1);
    assert.deepEqual({ ...fresh, client: undefined }, { client: undefined, sharedBuffersMB: 1, indexesMiB: 0, grownFromMB: null });
    const db = fresh.client;
    await migrate(db);
    const model = 'test:auto-1024';
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, 1024, '{}', 'active')", [model]);
    const index = new PgVectorIndex(db, { efSearch: 40 });
    await index.prepare(model, 1024);
    const images = new SqlImageRepository(db);
    const next = prng(3);
    // About one 8 KiB page per 1024-d element: 160 of them, about 1.3 MiB, against 1 MiB.
    for (let i = 0; i < 160; i++) {
      const image = await images.create(testNewImage(i));
      await index.upsert(image.id, model, Float32Array.from({ length: 1024 }, () => next() - 0.5));
    }
    const { indexBytes } = await hnswIndexAndBufferBytes(db);
    assert.ok(indexBytes > MiB, `the index is ${indexBytes} bytes`);
    await db.close();

    const grown = await openPGliteSizedForIndexes(dataDir, 1);
    try {
      const expected = Math.ceil((indexBytes * 1.25) / MiB);
      assert.equal(grown.grownFromMB, 1);
      assert.equal(grown.sharedBuffersMB, expected);
      assert.equal(grown.indexesMiB, Math.round((indexBytes / MiB) * 10) / 10);
      const [{ shared_buffers }] = await grown.client.query<{ shared_buffers: string }>('SHOW shared_buffers');
      assert.equal(shared_buffers, `${expected}MB`);
      const [{ n }] = await grown.client.query<{ n: number }>('SELECT count(*)::int AS n FROM image_embeddings');
      assert.equal(n, 160);
      assert.equal((await hnswIndexAndBufferBytes(grown.client)).indexBytes, indexBytes);
    } finally {
      await grown.client.close();
    }
    // Opened without auto: PGlite's default again, so auto wrote no setting into the files.
    const plain = await PGliteClient.open(dataDir);
    try {
      const [{ shared_buffers }] = await plain.query<{ shared_buffers: string }>('SHOW shared_buffers');
      assert.equal(shared_buffers, '128MB');
    } finally {
      await plain.close();
    }
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
