import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import h5wasm from 'h5wasm/node';
import { buildDenseNet, DENSENET121, DENSENET_TINY, type DenseNetArchitecture } from '../densenet.js';
import { initBackend } from '../runtime.js';
import { applyNamedWeights } from './apply.js';
import { kerasNamedWeights, readKerasH5Weights, writeKerasH5, writeKerasH5Weights } from './keras-h5.js';
import { WeightsError, type NamedWeights } from './types.js';

await initBackend('wasm');

let dir: string;
before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keras-h5-spec-'));
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

function fixedInput(arch: DenseNetArchitecture): tf.Tensor {
  return tf.randomUniform([2, arch.inputSize, arch.inputSize, 3], -2, 2, 'float32', 42);
}

/** Model A (seed 1) → file → model B (seed 2): B must compute what A computes. */
async function roundTrip(arch: DenseNetArchitecture, write: (a: tf.LayersModel, file: string) => Promise<void>, name: string) {
  const a = buildDenseNet({ ...arch, seed: 1 });
  const b = buildDenseNet({ ...arch, seed: 2 });
  const input = fixedInput(arch);
  try {
    const file = path.join(dir, name);
    await write(a, file);
    const expected = predict(a, input);
    assert.ok(maxAbsDiff(expected, predict(b, input)) > 1e-3, 'seeds 1 and 2 differ before loading');
    const tensorsBefore = tf.memory().numTensors;
    applyNamedWeights(b, await readKerasH5Weights(await fs.readFile(file)));
    assert.equal(tf.memory().numTensors, tensorsBefore, 'applying leaks no tensors');
    assert.ok(maxAbsDiff(expected, predict(b, input)) < 1e-6);
  } finally {
    a.dispose();
    b.dispose();
    input.dispose();
  }
}

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<WeightsError> {
  const error = await promise.then(
    () => assert.fail('expected a WeightsError'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof WeightsError, `expected a WeightsError, got ${String(error)}`);
  assert.match(error.message, pattern);
  return error;
}

function applyError(model: tf.LayersModel, weights: NamedWeights): WeightsError {
  try {
    applyNamedWeights(model, weights);
  } catch (error) {
    assert.ok(error instanceof WeightsError, `expected a WeightsError, got ${String(error)}`);
    return error;
  }
  return assert.fail('expected a WeightsError');
}

test('tiny DenseNet: weights written as Keras H5 and read back give model B the output of model A', async () => {
  await roundTrip(DENSENET_TINY, (a, file) => writeKerasH5Weights(a, file), 'tiny.h5');
});

test('h5py >= 3 files (variable-length strings) read the same', async () => {
  await roundTrip(DENSENET_TINY, (a, file) => writeKerasH5Weights(a, file, { strings: 'variable' }), 'tiny-vlen.h5');
});

test('a whole-model file (weights under model_weights) reads too', async () => {
  await roundTrip(DENSENET_TINY, (a, file) => writeKerasH5Weights(a, file, { rootGroup: 'model_weights' }), 'tiny-model.h5');
});

test('full DenseNet121 round trip', async () => {
  await roundTrip(DENSENET121, (a, file) => writeKerasH5Weights(a, file), 'densenet121.h5');
});

test('the written file has the Keras 2 save_weights layout', async () => {
  const model = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const file = path.join(dir, 'layout.h5');
  await writeKerasH5Weights(model, file);
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'r');
  try {
    assert.deepEqual(h5.attrs['layer_names']!.value, model.layers.map((l) => l.name), 'every layer, weightless ones too');
    assert.equal(h5.attrs['backend']!.value, 'tensorflow');
    assert.equal(h5.attrs['keras_version']!.value, '2.2.4');
    assert.ok(String(h5.attrs['layer_names']!.dtype).match(/^[AS]\d+$/), 'fixed-length strings by default');

    const conv1 = h5.get('conv1');
    assert.ok(conv1 instanceof h5wasm.Group, 'conv1/conv is group conv inside group conv1');
    assert.deepEqual(conv1.keys().sort(), ['bn', 'conv', 'relu']);
    const convGroup = h5.get('conv1/conv') as InstanceType<typeof h5wasm.Group>;
    assert.deepEqual(convGroup.attrs['weight_names']!.value, ['conv1/conv/kernel:0']);
    const kernel = h5.get('/conv1/conv/conv1/conv/kernel:0');
    assert.ok(kernel instanceof h5wasm.Dataset);
    assert.deepEqual(kernel.shape, [7, 7, 3, 64]);
    assert.equal(kernel.dtype, '<f');
    assert.deepEqual(kernel.value, model.getLayer('conv1/conv').getWeights()[0]!.dataSync());

    const bn = h5.get('conv1/bn') as InstanceType<typeof h5wasm.Group>;
    assert.deepEqual(bn.attrs['weight_names']!.value, [
      'conv1/bn/gamma:0',
      'conv1/bn/beta:0',
      'conv1/bn/moving_mean:0',
      'conv1/bn/moving_variance:0',
    ]);
    // Listing the group gives another order: the reason to read by weight_names.
    assert.deepEqual((h5.get('conv1/bn/conv1/bn') as InstanceType<typeof h5wasm.Group>).keys(), [
      'beta:0',
      'gamma:0',
      'moving_mean:0',
      'moving_variance:0',
    ]);

    const relu = h5.get('conv1/relu') as InstanceType<typeof h5wasm.Group>;
    const empty = relu.attrs['weight_names']!;
    assert.deepEqual(empty.shape, [0]);
    assert.equal(empty.dtype, '<d', 'an empty float64 array, as np.asarray([]) gives');
  } finally {
    h5.close();
    model.dispose();
  }
});

test('read returns layers in layer_names order, weights in weight_names order', async () => {
  const model = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const file = path.join(dir, 'order.h5');
  try {
    await writeKerasH5Weights(model, file);
    const weights = await readKerasH5Weights(await fs.readFile(file));
    assert.deepEqual([...weights.keys()], model.layers.map((l) => l.name));
    assert.deepEqual(weights.get('input_1'), []);
    assert.deepEqual(
      weights.get('conv2_block1_0_bn')!.map((w) => [w.name, w.shape]),
      ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((n) => [`conv2_block1_0_bn/${n}:0`, [64]]),
    );
    const kernel = weights.get('conv1/conv')![0]!;
    assert.ok(kernel.values instanceof Float32Array);
    assert.deepEqual(kernel.values, model.getLayer('conv1/conv').getWeights()[0]!.dataSync());
  } finally {
    model.dispose();
  }
});

test('BN weights stored in another order than Keras are matched by name', async () => {
  const a = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const b = buildDenseNet({ ...DENSENET_TINY, seed: 2 });
  const input = fixedInput(DENSENET_TINY);
  try {
    // Give BN non-trivial statistics so that a mix-up would show in the output.
    for (const layer of a.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
      const shapes = layer.weights.map((w) => w.shape as number[]);
      layer.setWeights(shapes.map((s, i) => tf.randomUniform(s, 0.5 + i, 1 + i, 'float32', i)));
    }
    const weights = kerasNamedWeights(a);
    for (const list of weights.values()) list.sort((x, y) => x.name.localeCompare(y.name)); // beta first
    const file = path.join(dir, 'alphabetical.h5');
    await writeKerasH5(weights, file);
    applyNamedWeights(b, await readKerasH5Weights(await fs.readFile(file)));
    assert.ok(maxAbsDiff(predict(a, input), predict(b, input)) < 1e-6);
  } finally {
    a.dispose();
    b.dispose();
    input.dispose();
  }
});

test('a dataset with a different shape: WeightsError naming the layer, model left untouched', async () => {
  const a = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const b = buildDenseNet({ ...DENSENET_TINY, seed: 2 });
  try {
    const weights = kerasNamedWeights(a);
    // 4 * growth rate (8) = 32 filters in the model; the file gets 33.
    weights.set('conv2_block1_1_conv', [
      { name: 'conv2_block1_1_conv/kernel:0', shape: [1, 1, 64, 33], values: new Float32Array(64 * 33) },
    ]);
    const file = path.join(dir, 'wrong-shape.h5');
    await writeKerasH5(weights, file);
    const read = await readKerasH5Weights(await fs.readFile(file));
    assert.deepEqual(read.get('conv2_block1_1_conv')![0]!.shape, [1, 1, 64, 33]);
    const stem = b.getLayer('conv1/conv').getWeights()[0]!.dataSync().slice();
    const error = applyError(b, read);
    assert.match(error.message, /conv2_block1_1_conv: kernel shape \[1,1,64,32\] in the model, \[1,1,64,33\] in the file/);
    assert.deepEqual(error.problems, ['conv2_block1_1_conv: kernel shape [1,1,64,32] in the model, [1,1,64,33] in the file']);
    assert.deepEqual(b.getLayer('conv1/conv').getWeights()[0]!.dataSync(), stem, 'nothing was applied');
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('a missing layer: WeightsError naming it', async () => {
  const a = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  try {
    const weights = kerasNamedWeights(a);
    weights.delete('conv3_block1_2_conv');
    const file = path.join(dir, 'missing.h5');
    await writeKerasH5(weights, file);
    const error = applyError(a, await readKerasH5Weights(await fs.readFile(file)));
    assert.match(error.message, /conv3_block1_2_conv: 1 weights \(kernel\) in the model, none in the file/);
    assert.equal(error.problems.length, 1);
  } finally {
    a.dispose();
  }
});

test('weightless layers may be missing from or extra in the file (the 2018 file has no final relu)', async () => {
  const a = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const b = buildDenseNet({ ...DENSENET_TINY, seed: 2 });
  const input = fixedInput(DENSENET_TINY);
  try {
    const weights = kerasNamedWeights(a);
    weights.delete('relu');
    weights.set('some_old_layer', []);
    const file = path.join(dir, 'no-relu.h5');
    await writeKerasH5(weights, file);
    applyNamedWeights(b, await readKerasH5Weights(await fs.readFile(file)));
    assert.ok(maxAbsDiff(predict(a, input), predict(b, input)) < 1e-6);
  } finally {
    a.dispose();
    b.dispose();
    input.dispose();
  }
});

test('truncated file (cut in half): WeightsError', async () => {
  const model = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const file = path.join(dir, 'whole.h5');
  try {
    await writeKerasH5Weights(model, file);
  } finally {
    model.dispose();
  }
  const bytes = await fs.readFile(file);
  await rejects(readKerasH5Weights(bytes.subarray(0, Math.floor(bytes.length / 2))), /truncated/);
});

test('garbage bytes: WeightsError', async () => {
  await rejects(readKerasH5Weights(new TextEncoder().encode('<html>not found</html>')), /Not an HDF5 file/);
  await rejects(readKerasH5Weights(new Uint8Array(0)), /Not an HDF5 file/);
  // An HDF5 signature followed by garbage gets as far as HDF5 itself.
  const fake = new Uint8Array(4096).map((_, i) => (i * 37) & 255);
  fake.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  await rejects(readKerasH5Weights(fake), /HDF5 file/);
});

test('an HDF5 file that is not a Keras weights file: WeightsError', async () => {
  await h5wasm.ready;
  const file = path.join(dir, 'other.h5');
  const h5 = new h5wasm.File(file, 'w');
  h5.create_dataset({ name: 'data', data: new Float32Array([1, 2, 3]) });
  h5.close();
  await rejects(readKerasH5Weights(await fs.readFile(file)), /no layer_names attribute/);
});

test('a layer listed in layer_names without its group: WeightsError', async () => {
  const file = path.join(dir, 'no-group.h5');
  await h5wasm.ready;
  const h5 = new h5wasm.File(file, 'w');
  h5.create_attribute('layer_names', ['conv1/conv'], null, 'A10');
  h5.close();
  await rejects(readKerasH5Weights(await fs.readFile(file)), /conv1\/conv in layer_names but has no group/);
});
