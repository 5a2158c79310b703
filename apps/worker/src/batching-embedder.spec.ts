import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ThreadEmbedder } from '@lookalike/embedding';
import type { RgbImage } from '@lookalike/shared/domain/image';
import type { Embedder } from '@lookalike/shared/ports';
import { failureReason } from '@lookalike/shared/metrics';
import { BatchingEmbedder } from './batching-embedder.js';

const image = (seed: number, size = 32): RgbImage => ({
  width: size,
  height: size,
  data: Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 7 + seed * 131 + ((i * seed) % 17)) % 256),
});

let model: Embedder;
let singles: Float32Array[];

before(async () => {
  model = await ThreadEmbedder.create({ preset: 'tiny', seed: 5 });
  singles = [];
  for (let s = 0; s < 8; s++) singles.push((await model.embed([image(s)]))[0]);
});
after(() => model?.close());

/** The real model, with each call's batch size written down. */
function recording(inner: Embedder): Embedder & { calls: number[] } {
  const calls: number[] = [];
  return { info: inner.info, calls, embed: (images) => (calls.push(images.length), inner.embed(images)), close: async () => {} };
}

const close = (a: Float32Array, b: Float32Array) => a.every((x, i) => Math.abs(x - b[i]) < 1e-5);

test('8 concurrent one-image calls make one model call; each gets its own vector', async () => {
  const inner = recording(model);
  const batching = new BatchingEmbedder(inner, { maxBatch: 8, maxWaitMs: 1000 });
  const vectors = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (s) => (await batching.embed([image(s)]))[0]));
  assert.deepEqual(inner.calls, [8], 'a full batch goes at once, without waiting maxWaitMs');
  vectors.forEach((v, s) => assert.ok(close(v, singles[s]), `image ${s} got its own vector`));
  assert.deepEqual(batching.stats, { calls: 1, images: 8, largestBatch: 8 });
});

test('a part batch goes after maxWaitMs; what arrives during a call goes in the next one', async () => {
  const inner = recording(model);
  const batching = new BatchingEmbedder(inner, { maxBatch: 4, maxWaitMs: 20 });
  const started = Date.now();
  const first = await batching.embed([image(0)]);
  assert.ok(Date.now() - started >= 15, 'a lone image waits for company');
  assert.ok(close(first[0], singles[0]));
  const all = await Promise.all([1, 2, 3, 4, 5, 6].map(async (s) => (await batching.embed([image(s)]))[0]));
  assert.deepEqual(inner.calls, [1, 4, 2]);
  all.forEach((v, i) => assert.ok(close(v, singles[i + 1])));
});

test('a bad image fails only its own call', async () => {
  const inner = recording(model);
  const batching = new BatchingEmbedder(inner, { maxBatch: 4, maxWaitMs: 50 });
  const results = await Promise.allSettled([image(1), image(2, 16), image(3), image(4)].map((img) => batching.embed([img])));
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
  assert.match(String((results[1] as PromiseRejectedResult).reason), /32x32/);
  assert.ok(close((results[0] as PromiseFulfilledResult<Float32Array[]>).value[0], singles[1]));
  assert.deepEqual(inner.calls, [4, 1, 1, 1, 1], 'the failed batch is retried image by image');
});

test('metrics: each model call gives its size and duration, each image its latency; model errors are marked as such', async () => {
  const calls: { size: number; seconds: number }[] = [];
  const images: number[] = [];
  const metrics = { batchEmbedded: (size: number, seconds: number) => calls.push({ size, seconds }), imageEmbedded: (s: number) => images.push(s) };
  const batching = new BatchingEmbedder(recording(model), { maxBatch: 4, maxWaitMs: 50, metrics });
  const results = await Promise.allSettled([image(1), image(2, 16), image(3), image(4)].map((img) => batching.embed([img])));
  assert.deepEqual(calls.map((c) => c.size), [4, 1, 1, 1, 1], 'the failed batch and each retry are model calls');
  assert.ok(calls.every((c) => c.seconds >= 0 && c.seconds < 30));
  assert.equal(images.length, 3, 'only images that got a vector');
  assert.ok(images.every((s) => s > 0));
  assert.equal(failureReason((results[1] as PromiseRejectedResult).reason), 'model');
});

test('maxBatch must be a positive whole number', () => {
  assert.throws(() => new BatchingEmbedder(model, { maxBatch: 0, maxWaitMs: 1 }), /maxBatch/);
});

test('memory stays flat over 2,000 images (tensors and buffers are released)', async () => {
  const batching = new BatchingEmbedder(model, { maxBatch: 8, maxWaitMs: 1 });
  const run = async (count: number) => {
    for (let i = 0; i < count; i += 8) await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((s) => batching.embed([image(i + s)])));
  };
  await run(200);
  global.gc?.();
  const before = process.memoryUsage().rss;
  await run(2000);
  global.gc?.();
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  // A leak of one 32×32 input per image would be 6 MB; of one tensor set per call, far more.
  assert.ok(grown < 48, `RSS grew ${grown.toFixed(1)} MiB over 2,000 images`);
});

test('with two model hosts two batches run at once; with one, the second waits for the first', async () => {
  for (const parallelism of [1, 2]) {
    let running = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const inner: Embedder = {
      info: model.info,
      parallelism,
      embed: async (images) => {
        most = Math.max(most, ++running);
        await new Promise<void>((r) => releases.push(r));
        running--;
        return model.embed(images);
      },
      close: async () => {},
    };
    const batching = new BatchingEmbedder(inner, { maxBatch: 4, maxWaitMs: 1000 });
    const all = Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async (s) => (await batching.embed([image(s)]))[0]));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(releases.length, parallelism, `${parallelism} host(s): ${parallelism} call(s) under way`);
    while (releases.length > 0 || running > 0) {
      releases.shift()?.();
      await new Promise((r) => setTimeout(r, 10));
    }
    const vectors = await all;
    vectors.forEach((v, s) => assert.ok(close(v, singles[s]), `image ${s} got its own vector`));
    assert.equal(most, parallelism);
    assert.deepEqual(batching.stats, { calls: 2, images: 8, largestBatch: 4 });
  }
});
