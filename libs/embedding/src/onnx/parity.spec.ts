// Parity across every runtime present here (issue 8, item 2): the same images through each
// runtime's embedding thread give L2-normalised vectors within 1e-4 (max abs) and cosine ≥ 0.99999
// of one another, under the same model id: seeded random weights and a weights file, tiny and full
// DenseNet121. The full-size cases are kept to two, with few images (2 cores).
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { buildDenseNet, DENSENET121, DENSENET_TINY, type DenseNetPreset } from '../densenet.js';
import type { RuntimeName } from '../model-runtime.js';
import { initBackend } from '../runtime.js';
import { detectNvidiaGpu } from '../select-runtime.js';
import { ThreadEmbedder } from '../thread-embedder.js';
import { writeKerasH5Weights } from '../weights/index.js';
import { loadOnnxRuntime } from './runtime.js';
import { agreement, randomizeBatchNorm, testImage } from './test-helpers.js';

const MAX_ABS_DIFF = 1e-4;
const MIN_COSINE = 0.99999;

const installed = (pkg: string) => {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
};

/** Every runtime that is installed here; onnx-cuda and tfjs-node-gpu only where a GPU is. */
async function runtimesPresent(): Promise<RuntimeName[]> {
  const ort = await loadOnnxRuntime().then(() => true, () => false);
  const gpu = detectNvidiaGpu();
  const all: Array<[RuntimeName, boolean]> = [
    ['onnx-cpu', ort],
    ['onnx-cuda', ort && gpu],
    ['tfjs-node-gpu', gpu && installed('@tensorflow/tfjs-node-gpu')],
    ['tfjs-node', installed('@tensorflow/tfjs-node')],
    ['tfjs-wasm', true],
    ['tfjs-cpu', true],
  ];
  return all.filter(([, present]) => present).map(([name]) => name);
}

const RUNTIMES = await runtimesPresent();

/**
 * Embeds `images` on each runtime (each in its own thread, all started at once) and checks every
 * runtime against the first. A GPU runtime whose provider is not installed is reported and left out.
 * `fewer` limits slow runtimes to their first N images.
 */
async function assertParity(
  t: TestContext,
  runtimes: readonly RuntimeName[],
  options: { preset: DenseNetPreset; seed?: number; weightsFile?: string },
  images: ReturnType<typeof testImage>[],
  fewer: Partial<Record<RuntimeName, number>> = {},
): Promise<void> {
  const started = await Promise.all(
    runtimes.map((runtime) =>
      // No warm-up: each thread runs the test images once, and tfjs-cpu would spend 9 s on it.
      ThreadEmbedder.create({ ...options, runtime, warmup: false }).then(
        (embedder) => {
          assert.equal(embedder.startup.runtime, runtime, 'runs the runtime asked for');
          return embedder;
        },
        (error: Error) => {
          if (error.name === 'RuntimeUnavailableError' && (runtime === 'onnx-cuda' || runtime === 'tfjs-node-gpu')) {
            t.diagnostic(`${runtime} left out: ${error.message}`);
            return undefined;
          }
          throw error;
        },
      ),
    ),
  );
  const embedders = started.filter((e): e is ThreadEmbedder => e !== undefined);
  try {
    const results = await Promise.all(embedders.map((e) => e.embed(images.slice(0, fewer[e.startup.runtime] ?? images.length))));
    const [reference] = embedders;
    t.diagnostic(`model ${reference!.info.id}; reference ${reference!.info.runtime}`);
    embedders.forEach((e, i) => {
      assert.equal(e.info.id, reference!.info.id, `${e.info.runtime}: same model id`);
      if (i === 0) return;
      const { maxAbsDiff, minCosine } = agreement(results[i]!, results[0]!);
      t.diagnostic(`${e.info.runtime}: max |Δ| ${maxAbsDiff.toExponential(2)}, min cosine 1 − ${(1 - minCosine).toExponential(2)}`);
      assert.ok(maxAbsDiff <= MAX_ABS_DIFF, `${e.info.runtime}: max abs diff ${maxAbsDiff}`);
      assert.ok(minCosine >= MIN_COSINE, `${e.info.runtime}: cosine ${minCosine}`);
    });
    assert.ok(embedders.length >= 2, 'at least two runtimes to compare');
  } finally {
    await Promise.all(embedders.map((e) => e.close()));
  }
}

describe(`runtime parity (${RUNTIMES.join(', ')})`, () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'parity-'));
    // Weights files with every batch norm parameter set (fresh models have identity batch norm).
    await initBackend('cpu');
    for (const [name, arch, seed] of [['tiny.h5', DENSENET_TINY, 21], ['densenet121.h5', DENSENET121, 11]] as const) {
      const model = buildDenseNet({ ...arch, seed });
      randomizeBatchNorm(model, seed);
      await writeKerasH5Weights(model, path.join(dir, name));
      model.dispose();
    }
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const tiny = [1, 2, 3, 4].map((k) => testImage(DENSENET_TINY.inputSize, k));
  const full = [1, 2].map((k) => testImage(DENSENET121.inputSize, k));

  test('tiny, seeded random weights', (t) => assertParity(t, RUNTIMES, { preset: 'tiny', seed: 5 }, tiny));

  test('tiny, weights file', (t) => assertParity(t, RUNTIMES, { preset: 'tiny', weightsFile: path.join(dir, 'tiny.h5') }, tiny));

  // tfjs-cpu (plain JS) takes ~9 s per DenseNet121 image here: it is checked at full size once, on
  // one image, in a thread of its own while the others run.
  test('DenseNet121, seeded random weights', (t) =>
    assertParity(t, RUNTIMES.filter((r) => r !== 'tfjs-cpu'), { preset: 'densenet121', seed: 1 }, full));

  test('DenseNet121, weights file', (t) =>
    assertParity(t, RUNTIMES, { preset: 'densenet121', weightsFile: path.join(dir, 'densenet121.h5') }, full, { 'tfjs-cpu': 1 }));
});
