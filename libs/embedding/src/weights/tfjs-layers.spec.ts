import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet, DENSENET_TINY } from '../densenet.js';
import { initBackend } from '../runtime.js';
import { applyNamedWeights } from './apply.js';
import { readTfjsLayersWeights, writeTfjsLayersModel } from './tfjs-layers.js';
import { WeightsError } from './types.js';

await initBackend('wasm');

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tfjs-layers-spec-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

function predict(model: tf.LayersModel, input: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(input) as tf.Tensor).dataSync() as Float32Array);
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

type ModelJson = { modelTopology: unknown; weightsManifest: Array<{ paths: string[]; weights: Array<{ name: string }> }> };

async function saved(name: string, seed = 1): Promise<{ modelDir: string; json: ModelJson; load: (p: string) => Promise<Uint8Array> }> {
  const model = buildDenseNet({ ...DENSENET_TINY, seed });
  const modelDir = path.join(dir, name);
  try {
    await writeTfjsLayersModel(model, modelDir);
  } finally {
    model.dispose();
  }
  const json = JSON.parse(await fs.readFile(path.join(modelDir, 'model.json'), 'utf8')) as ModelJson;
  return { modelDir, json, load: (p) => fs.readFile(path.join(modelDir, p)) };
}

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => assert.fail('expected a WeightsError'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof WeightsError, `expected a WeightsError, got ${String(error)}`);
  assert.match(error.message, pattern);
}

/** Loads `weights` into a seed-2 model and checks it computes what the seed-1 model computes. */
async function assertLoadsSeed1(weights: Awaited<ReturnType<typeof readTfjsLayersWeights>>): Promise<void> {
  const a = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const b = buildDenseNet({ ...DENSENET_TINY, seed: 2 });
  const input = tf.randomUniform([2, DENSENET_TINY.inputSize, DENSENET_TINY.inputSize, 3], -2, 2, 'float32', 42);
  try {
    const expected = predict(a, input);
    assert.ok(maxAbsDiff(expected, predict(b, input)) > 1e-3, 'seeds 1 and 2 differ before loading');
    applyNamedWeights(b, weights);
    assert.ok(maxAbsDiff(expected, predict(b, input)) < 1e-6);
  } finally {
    a.dispose();
    b.dispose();
    input.dispose();
  }
}

test('tiny DenseNet: a tfjs layers model written and read back gives model B the output of model A', async () => {
  const { json, load, modelDir } = await saved('roundtrip');
  assert.deepEqual((await fs.readdir(modelDir)).sort(), ['group1-shard1of1.bin', 'model.json']);
  const weights = await readTfjsLayersWeights(json, load);
  // tfjs stores non-trainable weights last; grouping by layer keeps gamma, beta, moving_mean, moving_variance.
  assert.deepEqual(
    weights.get('conv1/bn')!.map((w) => w.name),
    ['conv1/bn/gamma', 'conv1/bn/beta', 'conv1/bn/moving_mean', 'conv1/bn/moving_variance'],
  );
  assert.deepEqual(weights.get('conv1/conv')!.map((w) => [w.name, w.shape]), [['conv1/conv/kernel', [7, 7, 3, 64]]]);
  await assertLoadsSeed1(weights);
});

test('weight names with a _1 suffix or a scope prefix are grouped by the topology layer names', async () => {
  const { json, load } = await saved('suffixed');
  const renamed = new Map([
    ['conv1/conv/kernel', 'conv1/conv_1/kernel'],
    ['bn/gamma', 'bn_1/gamma'],
    ['conv1/bn/beta', 'densenet/conv1/bn/beta'],
    ['pool2_conv/kernel', 'pool2_conv_3/kernel_1'],
  ]);
  for (const w of json.weightsManifest[0]!.weights) w.name = renamed.get(w.name) ?? w.name;
  const weights = await readTfjsLayersWeights(json, load);
  assert.deepEqual(weights.get('conv1/conv')!.map((w) => w.name), ['conv1/conv_1/kernel']);
  assert.equal(weights.get('bn')![0]!.name, 'bn_1/gamma');
  assert.equal(weights.get('conv1/bn')![1]!.name, 'densenet/conv1/bn/beta');
  assert.equal(weights.get('pool2_conv')![0]!.name, 'pool2_conv_3/kernel_1');
  assert.ok(!weights.has('conv1/conv_1') && !weights.has('bn_1'));
  await assertLoadsSeed1(weights);
});

test('a truncated shard: WeightsError', async () => {
  const { json, load } = await saved('truncated');
  await rejects(
    readTfjsLayersWeights(json, async (p) => {
      const bytes = await load(p);
      return bytes.subarray(0, bytes.length / 2);
    }),
    /truncated/,
  );
});

test('a shard that cannot be loaded: WeightsError naming it', async () => {
  const { json } = await saved('unloadable');
  await rejects(
    readTfjsLayersWeights(json, () => Promise.reject(new Error('HTTP 404'))),
    /group1-shard1of1\.bin: HTTP 404/,
  );
});

test('not a tfjs model.json, or a weight of another dtype: WeightsError', async () => {
  const load = () => Promise.resolve(new Uint8Array(0));
  await rejects(readTfjsLayersWeights({ format: 'graph-model' }, load), /no weightsManifest/);
  await rejects(readTfjsLayersWeights(null, load), /no weightsManifest/);
  await rejects(
    readTfjsLayersWeights({ weightsManifest: [{ paths: [], weights: [{ name: 'a/kernel', shape: [2], dtype: 'int32' }] }] }, load),
    /int32, expected float32/,
  );
});

test('uint8-quantized weights are dequantized', async () => {
  const json = {
    modelTopology: { class_name: 'Model', config: { layers: [{ name: 'dense', class_name: 'Dense', config: { name: 'dense' } }] } },
    weightsManifest: [
      {
        paths: ['q.bin'],
        weights: [{ name: 'dense/kernel', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: -1 } }],
      },
    ],
  };
  const weights = await readTfjsLayersWeights(json, async () => new Uint8Array([0, 1, 2, 4]));
  assert.deepEqual([...weights.get('dense')![0]!.values], [-1, -0.5, 0, 1]);
});
