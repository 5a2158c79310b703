import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet, denseNetDimension, denseNetModelId, DENSENET121, DENSENET_TINY } from './densenet.js';
import { initBackend } from './runtime.js';

await initBackend('wasm');

function predict(model: tf.LayersModel, input: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(input) as tf.Tensor).dataSync() as Float32Array);
}

test('DenseNet121 matches Keras: parameter count, output shape, layer names', () => {
  const model = buildDenseNet({ ...DENSENET121, seed: 1 });
  try {
    assert.equal(model.countParams(), 7_037_504);
    assert.deepEqual(model.outputs[0].shape, [null, 1024]);
    assert.deepEqual(model.inputs[0].shape, [null, 224, 224, 3]);
    assert.equal(denseNetDimension(DENSENET121), 1024);
    const names = new Set(model.layers.map((l) => l.name));
    for (const name of [
      'zero_padding2d', 'conv1/conv', 'conv1/bn', 'conv1/relu', 'zero_padding2d_1', 'pool1',
      'conv2_block1_0_bn', 'conv2_block1_1_conv', 'conv2_block1_2_conv', 'conv2_block6_concat',
      'pool2_bn', 'pool2_relu', 'pool2_conv', 'pool2_pool', 'pool4_pool',
      'conv5_block16_concat', 'bn', 'relu', 'avg_pool',
    ]) {
      assert.ok(names.has(name), `missing layer ${name}`);
    }
    assert.ok(!names.has('pool5_bn'), 'no transition after the last dense block');
    // Keras' DenseNet121 (include_top=False, pooling='avg') has 428 layers counting the input.
    assert.equal(model.layers.length, 428);
    const bn = model.getLayer('conv1/bn').getConfig();
    assert.equal(bn.epsilon, 1.001e-5);
    assert.equal(model.getLayer('pool3_conv').getConfig().filters, 256);
    assert.equal(model.getLayer('conv1/conv').getConfig().useBias, false);
  } finally {
    model.dispose();
  }
});

test('DenseNet121 weights are a function of the seed', () => {
  const kernels = (seed: number) => {
    const model = buildDenseNet({ ...DENSENET121, seed });
    const values = ['conv1/conv', 'conv5_block16_2_conv'].map((n) => model.getLayer(n).getWeights()[0].dataSync().slice());
    model.dispose();
    return values;
  };
  const a = kernels(7);
  assert.deepEqual(kernels(7), a);
  assert.notDeepEqual(kernels(8), a);
  assert.notDeepEqual(a[0].slice(0, 100), a[1].slice(0, 100), 'layers draw from different streams');
});

test('tiny preset: same seed gives the same output, another seed a different one', () => {
  const input = tf.randomUniform([2, DENSENET_TINY.inputSize, DENSENET_TINY.inputSize, 3], -2, 2, 'float32', 3);
  const models = [1, 1, 2].map((seed) => buildDenseNet({ ...DENSENET_TINY, seed }));
  try {
    assert.deepEqual(models[0].outputs[0].shape, [null, denseNetDimension(DENSENET_TINY)]);
    const [a, b, c] = models.map((m) => predict(m, input));
    assert.deepEqual(b, a);
    assert.notDeepEqual(c, a);
    assert.ok(a.every(Number.isFinite) && a.some((v) => v > 0));
  } finally {
    input.dispose();
    models.forEach((m) => m.dispose());
  }
});

test('model ids name the architecture and the seed', () => {
  assert.equal(denseNetModelId({ ...DENSENET121, seed: 1 }), 'densenet121:random-seed-1');
  assert.equal(denseNetModelId({ ...DENSENET_TINY, seed: 5 }), 'densenet-b1.1.1.1-g8-s32:random-seed-5');
  assert.equal(denseNetModelId({ ...DENSENET121, inputSize: 160, seed: 1 }), 'densenet-b6.12.24.16-g32-s160:random-seed-1');
});

test('rejects malformed configs', () => {
  assert.throws(() => buildDenseNet({ ...DENSENET_TINY, blocks: [], seed: 1 }), /blocks/);
  assert.throws(() => buildDenseNet({ ...DENSENET_TINY, seed: 1.5 }), /seed/);
});
