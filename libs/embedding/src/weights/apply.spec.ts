import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet, DENSENET_TINY } from '../densenet.js';
import { initBackend } from '../runtime.js';
import { applyNamedWeights } from './apply.js';
import { kerasNamedWeights } from './keras-h5.js';
import { shortWeightName, WeightsError, type NamedWeights } from './types.js';

await initBackend('wasm');

function applyError(model: tf.LayersModel, weights: NamedWeights): WeightsError {
  try {
    applyNamedWeights(model, weights);
  } catch (error) {
    assert.ok(error instanceof WeightsError, `expected a WeightsError, got ${String(error)}`);
    return error;
  }
  return assert.fail('expected a WeightsError');
}

function withModels(fn: (a: tf.LayersModel, b: tf.LayersModel) => void): void {
  const a = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
  const b = buildDenseNet({ ...DENSENET_TINY, seed: 2 });
  try {
    fn(a, b);
  } finally {
    a.dispose();
    b.dispose();
  }
}

test('applying copies every weight, in the model order, and leaks no tensors', () => {
  withModels((a, b) => {
    const before = tf.memory().numTensors;
    applyNamedWeights(b, kerasNamedWeights(a));
    assert.equal(tf.memory().numTensors, before);
    for (const layer of a.layers) {
      const other = b.getLayer(layer.name);
      layer.getWeights().forEach((w, i) => assert.deepEqual(other.getWeights()[i]!.dataSync(), w.dataSync(), layer.name));
    }
  });
});

test('Keras and tfjs order BN weights the same: gamma, beta, moving_mean, moving_variance', () => {
  withModels((a) => {
    const bn = a.getLayer('conv1/bn');
    assert.deepEqual(bn.weights.map((w) => shortWeightName(w.originalName)), ['gamma', 'beta', 'moving_mean', 'moving_variance']);
    assert.deepEqual(kerasNamedWeights(a).get('conv1/bn')!.map((w) => w.name), [
      'conv1/bn/gamma:0',
      'conv1/bn/beta:0',
      'conv1/bn/moving_mean:0',
      'conv1/bn/moving_variance:0',
    ]);
  });
});

test('a different number of weights: WeightsError naming the layer and both lists', () => {
  withModels((a, b) => {
    const weights = kerasNamedWeights(a);
    weights.set('conv1/bn', weights.get('conv1/bn')!.slice(0, 2));
    const error = applyError(b, weights);
    assert.match(
      error.message,
      /conv1\/bn: 4 weights in the model \(gamma, beta, moving_mean, moving_variance\), 2 in the file \(conv1\/bn\/gamma:0, conv1\/bn\/beta:0\)/,
    );
  });
});

test('a layer with weights that the model lacks: WeightsError naming it', () => {
  withModels((a, b) => {
    const weights = kerasNamedWeights(a);
    weights.set('predictions', [{ name: 'predictions/kernel:0', shape: [2, 2], values: new Float32Array(4) }]);
    assert.match(applyError(b, weights).message, /predictions: 1 weights in the file, no such layer in the model/);
  });
});

test('many mismatches: the message names the first five, problems has all, the model is untouched', () => {
  withModels((a, b) => {
    const weights = kerasNamedWeights(a);
    const dropped = [...weights.keys()].filter((name) => weights.get(name)!.length > 0).slice(0, 7);
    dropped.forEach((name) => weights.delete(name));
    const kernel = b.getLayer('pool4_conv').getWeights()[0]!.dataSync().slice();
    const error = applyError(b, weights);
    assert.equal(error.problems.length, 7);
    assert.match(error.message, /\(7 mismatches\)/);
    assert.match(error.message, /; and 2 more$/);
    for (const name of dropped.slice(0, 5)) assert.ok(error.message.includes(`${name}: `), name);
    assert.ok(!error.message.includes(`${dropped[6]}: `));
    assert.deepEqual(b.getLayer('pool4_conv').getWeights()[0]!.dataSync(), kernel, 'no partial load');
  });
});
