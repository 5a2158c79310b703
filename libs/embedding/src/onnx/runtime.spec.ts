// The ONNX Runtime embedder in this process: graph cache by model id, damaged cache files, threads,
// CUDA refusing clearly where it cannot run, and `auto` runtime selection.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildDenseNet, DENSENET_TINY } from '../densenet.js';
import { resolveModelWeights, RuntimeUnavailableError } from '../model-runtime.js';
import { ensureScratchBackend } from '../runtime.js';
import { autoRuntimeOrder, detectNvidiaGpu, selectRuntime } from '../select-runtime.js';
import { ThreadEmbedder } from '../thread-embedder.js';
import { cachedOnnxGraph, onnxCacheFile } from './cache.js';
import { convertLayersModel } from './convert.js';
import { loadOnnxRuntime, OnnxEmbeddingRuntime } from './runtime.js';
import { agreement, testImage } from './test-helpers.js';

const ortPresent = await loadOnnxRuntime().then(() => true, () => false);
const S = DENSENET_TINY.inputSize;
const images = [1, 2, 3].map((k) => testImage(S, k));
const TINY_ID = 'densenet-b1.1.1.1-g8-s32:random-seed-1';

describe('OnnxEmbeddingRuntime', { skip: ortPresent ? false : 'onnxruntime-node is not installed' }, () => {
  let cacheDir: string;
  before(async () => {
    cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onnx-cache-'));
  });
  after(async () => {
    await fs.rm(cacheDir, { recursive: true, force: true });
  });

  const create = (extra: Partial<Parameters<typeof OnnxEmbeddingRuntime.create>[0]> = {}) =>
    OnnxEmbeddingRuntime.create({ ...DENSENET_TINY, seed: 1, cacheDir, ...extra });

  test('converts once, then reads the graph from the cache by model id; damaged files are rebuilt', async () => {
    const first = await create();
    const file = onnxCacheFile(cacheDir, TINY_ID);
    try {
      assert.equal(first.modelId, TINY_ID);
      assert.equal(first.description, 'onnx-cpu (1 thread)');
      assert.deepEqual(first.cache, { outcome: 'miss', file, reason: undefined });
      const vectors = await first.embed(images);
      assert.equal(vectors.length, 3);
      for (const v of vectors) {
        assert.equal(v.length, 23);
        assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-6);
        assert.equal(v.byteLength, v.buffer.byteLength, 'each vector owns its buffer');
      }
      // One image alone gives what it gave in the batch.
      const [alone] = await first.embed([images[1]!]);
      assert.ok(agreement([alone!], [vectors[1]!]).maxAbsDiff < 1e-6);
      assert.deepEqual(await first.embed([]), []);
      await assert.rejects(first.embed([testImage(16, 1)]), /takes 32x32 images, got 16x16/);

      const hit = await create();
      assert.equal(hit.cache.outcome, 'hit');
      assert.deepEqual(await hit.embed(images), vectors);
      await hit.dispose();

      // Another seed is another model id, hence another file.
      const other = await create({ seed: 2 });
      assert.equal(other.cache.outcome, 'miss');
      assert.notEqual(other.cache.file, file);
      await other.dispose();

      // A flipped byte in the weights: the checksum catches it, the graph is rebuilt, vectors unchanged.
      const bytes = await fs.readFile(file);
      bytes[bytes.length - 100] ^= 0xff;
      await fs.writeFile(file, bytes);
      const repaired = await create();
      assert.equal(repaired.cache.outcome, 'rebuilt');
      assert.match(repaired.cache.reason!, /damaged/);
      assert.deepEqual(await repaired.embed(images), vectors);
      await repaired.dispose();

      // Truncated, checksum gone (a crash mid-write): rebuilt as well.
      await fs.writeFile(file, bytes.subarray(0, 1000));
      await fs.rm(`${file}.sha256`);
      const again = await create();
      assert.equal(again.cache.outcome, 'rebuilt');
      assert.match(again.cache.reason!, /no checksum/);
      assert.deepEqual(await again.embed(images), vectors);
      await again.dispose();
      assert.equal((await fs.readdir(path.dirname(file))).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp files left');
    } finally {
      await first.dispose();
    }
  });

  test('a cache hit reads the weights file only to name the model, never decodes it', async () => {
    // Bytes that digest fine but decode to nothing: only a graph from the cache lets this file start.
    const file = path.join(cacheDir, 'undecodable.h5');
    await fs.writeFile(file, 'no HDF5 here');
    const { modelId } = await resolveModelWeights({ ...DENSENET_TINY, seed: 1, weightsFile: file });
    await assert.rejects(create({ weightsFile: file }), /Not an HDF5 file/, 'a miss decodes the file, and says what is wrong with it');

    await ensureScratchBackend();
    const model = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
    const graph = convertLayersModel(model);
    model.dispose();
    await cachedOnnxGraph(cacheDir, modelId, async () => graph);
    const hit = await create({ weightsFile: file });
    try {
      assert.equal(hit.modelId, modelId);
      assert.equal(hit.cache.outcome, 'hit');
    } finally {
      await hit.dispose();
    }
  });

  test('without a cache directory the graph is converted in memory', async () => {
    const runtime = await OnnxEmbeddingRuntime.create({ ...DENSENET_TINY, seed: 1 });
    assert.equal(runtime.cache.outcome, 'uncached');
    await runtime.dispose();
  });

  test('two intra-op threads: same vectors, and it says so', async () => {
    const [one, two] = [await create(), await create({ threads: 2 })];
    try {
      assert.equal(two.description, 'onnx-cpu (2 threads)');
      assert.ok(agreement(await one.embed(images), await two.embed(images)).maxAbsDiff < 1e-6);
    } finally {
      await Promise.all([one.dispose(), two.dispose()]);
    }
    await assert.rejects(create({ threads: 0 }), /positive integer/);
  });

  test('onnx-cuda without a usable CUDA provider fails with an error that says what is missing', { skip: detectNvidiaGpu() && 'a GPU is present' }, async () => {
    await assert.rejects(create({ provider: 'cuda' }), (e: Error) => e instanceof RuntimeUnavailableError && /onnx-cuda: .*CUDA provider.*ONNXRUNTIME_NODE_INSTALL=cuda12/s.test(e.message));
  });

  test('auto: GPU runtimes first only where a GPU is seen; skipped runtimes are reported, the next one runs', async () => {
    assert.deepEqual(autoRuntimeOrder(false), ['onnx-cpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu']);
    assert.deepEqual(autoRuntimeOrder(true), ['onnx-cuda', 'tfjs-node-gpu', 'onnx-cpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu']);
    if (detectNvidiaGpu()) return;
    // Pretend a GPU is there: on this machine both GPU runtimes fail and onnx-cpu takes over.
    const { runtime, skipped } = await selectRuntime({ ...DENSENET_TINY, seed: 1, runtime: 'auto', gpu: true, cacheDir });
    try {
      assert.equal(runtime.name, 'onnx-cpu');
      assert.equal(skipped.length, 2);
      assert.match(skipped[0]!, /^onnx-cuda: /);
      assert.match(skipped[1]!, /^tfjs-node-gpu: /);
    } finally {
      await runtime.dispose();
    }
  });
});

test('a runtime asked for by name that cannot run here stops start-up, saying why', async (t) => {
  const installed = await import('@tensorflow/tfjs-node' as string).then(() => true, () => false);
  if (installed) return t.skip('@tensorflow/tfjs-node is installed here');
  await assert.rejects(ThreadEmbedder.create({ preset: 'tiny', runtime: 'tfjs-node' }), /tfjs-node needs @tensorflow\/tfjs-node, which is not installed/);
  if (!detectNvidiaGpu()) {
    await assert.rejects(ThreadEmbedder.create({ preset: 'tiny', runtime: 'tfjs-node-gpu' }), /tfjs-node-gpu: no NVIDIA GPU is visible/);
  }
});

test('ORT in several threads at once; each reports runtime, threads and graph cache', { skip: ortPresent ? false : 'onnxruntime-node is not installed' }, async () => {
  const cacheDir = await fs.mkdtemp(path.join(os.tmpdir(), 'onnx-thread-cache-'));
  try {
    const first = await ThreadEmbedder.create({ preset: 'tiny', runtime: 'onnx-cpu', threads: 2, cacheDir });
    // onnxruntime-node 1.21 crashed with sessions in several worker threads (#24486): keep both open.
    const second = await ThreadEmbedder.create({ preset: 'tiny', runtime: 'onnx-cpu', cacheDir });
    try {
      assert.equal(first.info.runtime, 'onnx-cpu (2 threads)');
      assert.equal(second.info.runtime, 'onnx-cpu (1 thread)');
      assert.equal(second.info.id, TINY_ID);
      assert.equal(first.startup.runtime, 'onnx-cpu');
      assert.match(first.startup.graphCache!, /^miss /);
      assert.match(second.startup.graphCache!, /^hit /);
      assert.deepEqual(second.startup.skipped, []);
      const [a, b] = await Promise.all([first.embed(images), second.embed(images)]);
      assert.ok(agreement(a!, b!).maxAbsDiff < 1e-6);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  } finally {
    await fs.rm(cacheDir, { recursive: true, force: true });
  }
});
