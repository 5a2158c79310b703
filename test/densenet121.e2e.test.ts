// The real DenseNet121 (seeded random weights until the Keras weights land) through the whole
// service: the same path as the small model elsewhere, at full size. Kept to a few images: ~0.3 s each.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { distinctImage, goodImages } from './fixtures/images.js';
import { type TestService, startTestService, subscribeFor, waitFor } from './helpers/service.js';

describe('DenseNet121 end to end', () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService({ MODEL: 'densenet121', MODEL_WEIGHTS: 'random' });
  });
  after(async () => {
    await svc?.stop();
  });

  test('1024-d unit vectors in pgvector, a classification, and search through the HNSW index', async () => {
    assert.equal(svc.embedder.info.id, 'densenet121:random-seed-1');
    assert.equal(svc.embedder.info.dimension, 1024);
    const feed = subscribeFor<any>(svc.ws(), `subscription { classificationReady(collection: "dn") { label model image { id status } } }`, {}, 3, 120_000);
    await new Promise((r) => setTimeout(r, 300));
    const ids: string[] = [];
    const images = [await distinctImage(1, 224), (await goodImages())['jpeg-baseline'].bytes, await distinctImage(1, 200)];
    for (const [i, bytes] of images.entries()) {
      const res = await svc.upload(
        `mutation ($f: Upload!, $l: String) { uploadImage(file: $f, collection: "dn", label: $l) { id } }`,
        { l: i < 2 ? `ref-${i}` : null },
        { field: 'f', bytes },
      );
      assert.equal(res.errors, undefined, JSON.stringify(res.errors));
      ids.push(res.data.uploadImage.id);
    }
    const events = (await feed).map((e) => e.classificationReady);
    assert.ok(events.every((e) => e.image.status === 'READY' && e.model === 'densenet121:random-seed-1'));
    const [row] = await svc.db.query<{ dims: number; norm: number }>(
      `SELECT vector_dims(embedding) AS dims, vector_norm(embedding) AS norm FROM image_embeddings WHERE image_id = $1`,
      [ids[0]],
    );
    assert.equal(row.dims, 1024);
    assert.ok(Math.abs(row.norm - 1) < 1e-5);
    // The resized copy of ref-0 is nearest to ref-0.
    assert.equal(events.find((e) => e.image.id === ids[2]).label, 'ref-0');
  });
});

describe('a model call longer than the job lock', () => {
  let svc: TestService;
  const LOCK_MS = 200;

  before(async () => {
    svc = await startTestService({ MODEL: 'densenet121', MODEL_WEIGHTS: 'random' });
  });
  after(async () => {
    await svc?.stop();
  });

  test('a batch that takes longer than lockDuration completes; no job is reported stalled or run twice', async () => {
    const calls: { size: number; ms: number }[] = [];
    const worker = await svc.replaceWorker(
      { WORKER_LOCK_MS: String(LOCK_MS), EMBED_BATCH: '16', WORKER_CONCURRENCY: '16', EMBED_BATCH_WAIT_MS: '3000' },
      (inner) => ({
        info: inner.info,
        close: () => inner.close(),
        async embed(images) {
          const started = performance.now();
          try {
            return await inner.embed(images);
          } finally {
            calls.push({ size: images.length, ms: performance.now() - started });
          }
        },
      }),
    );
    const ids: string[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await svc.upload(`mutation ($f: Upload!) { uploadImage(file: $f, collection: "lock") { id } }`, {}, { field: 'f', bytes: await distinctImage(40 + i, 96) });
      ids.push(res.data.uploadImage.id);
    }
    await waitFor(async () => {
      const [row] = await svc.db.query<{ n: number }>("SELECT count(*) AS n FROM images WHERE collection = 'lock' AND status = 'READY'");
      return Number(row.n) === ids.length;
    }, 120_000, 'all READY');
    const longest = Math.max(...calls.map((c) => c.ms));
    assert.ok(longest > 2 * LOCK_MS, `the model call (${longest.toFixed(0)} ms, batches ${calls.map((c) => c.size)}) outlasts the ${LOCK_MS} ms lock`);
    assert.deepEqual(worker.stalled, [], 'no lock was lost');
    assert.equal(calls.reduce((n, c) => n + c.size, 0), ids.length, 'each image was embedded once');
    const [row] = await svc.db.query<{ n: number }>("SELECT count(*) AS n FROM classifications c JOIN images i ON i.id = c.image_id WHERE i.collection = 'lock'");
    assert.equal(Number(row.n), ids.length);
  });
});
