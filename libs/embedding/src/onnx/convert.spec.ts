// The converter on its own: tfjs model in, ONNX graph out, run by ONNX Runtime in this process and
// compared with tfjs' own predict() on the raw (un-normalised) outputs.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet, DENSENET_TINY } from '../densenet.js';
import { initBackend } from '../runtime.js';
import { convertLayersModel, OnnxConversionError, ONNX_INPUT, ONNX_OUTPUT, toOnnxGraph } from './convert.js';
import { loadOnnxRuntime } from './runtime.js';
import { randomizeBatchNorm } from './test-helpers.js';

const ort = await loadOnnxRuntime().catch(() => undefined);

/** Runs `model` in tfjs and, converted, in ORT on the same NHWC input; returns the largest difference. */
async function compare(model: tf.LayersModel, batch: number): Promise<{ maxDiff: number; maxAbs: number; dims: readonly number[] }> {
  const shape = [batch, ...(model.inputs[0]!.shape.slice(1) as number[])];
  const x = Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37) * 2);
  const expected = tf.tidy(() => (model.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync() as Float32Array);
  const session = await ort!.InferenceSession.create(convertLayersModel(model), { graphOptimizationLevel: 'all' });
  try {
    const out = (await session.run({ [ONNX_INPUT]: new ort!.Tensor('float32', x, shape) }))[ONNX_OUTPUT]!;
    const got = out.data as Float32Array;
    assert.equal(got.length, expected.length);
    let maxDiff = 0;
    let maxAbs = 0;
    got.forEach((v, i) => {
      maxDiff = Math.max(maxDiff, Math.abs(v - expected[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(expected[i]!));
    });
    return { maxDiff, maxAbs, dims: out.dims };
  } finally {
    await session.release();
  }
}

const ops = (model: tf.LayersModel) => toOnnxGraph(model).nodes.map((n) => n.op);

describe('tfjs → ONNX converter', { skip: ort ? false : 'onnxruntime-node is not installed' }, () => {
  before(async () => {
    await initBackend('cpu');
  });

  test('tiny DenseNet with non-trivial batch norm: ORT matches tfjs, any batch size', async (t) => {
    const model = buildDenseNet({ ...DENSENET_TINY, seed: 4 });
    randomizeBatchNorm(model, 9);
    for (const batch of [1, 3]) {
      const r = await compare(model, batch);
      t.diagnostic(`batch ${batch}: max |ORT − tfjs| ${r.maxDiff.toExponential(2)} on outputs up to ${r.maxAbs.toFixed(2)}`);
      assert.deepEqual(r.dims, [batch, 23]);
      assert.ok(r.maxDiff <= 1e-5 * Math.max(1, r.maxAbs), `max diff ${r.maxDiff}`);
    }
    model.dispose();
  });

  test('graph shape: one input Transpose, Keras zero padding folded into conv and max-pool pads, epsilon kept', () => {
    const model = buildDenseNet({ ...DENSENET_TINY, seed: 1 });
    const graph = toOnnxGraph(model);
    assert.deepEqual(graph.inputs, [{ name: ONNX_INPUT, shape: ['batch', 32, 32, 3] }]);
    assert.deepEqual(graph.outputs, [{ name: ONNX_OUTPUT, shape: ['batch', 23] }]);
    assert.equal(graph.nodes.filter((n) => n.op === 'Transpose').length, 1);
    assert.equal(graph.nodes.filter((n) => n.op === 'Pad').length, 0, 'both ZeroPadding2D layers folded');
    const stem = graph.nodes.find((n) => n.name === 'conv1/conv/conv')!;
    assert.deepEqual(stem.attributes?.pads, [3, 3, 3, 3]);
    assert.deepEqual(stem.attributes?.strides, [2, 2]);
    assert.deepEqual(graph.nodes.find((n) => n.name === 'pool1')!.attributes?.pads, [1, 1, 1, 1]);
    // Keras `same` 3×3 conv inside a dense block: one pixel each side.
    assert.deepEqual(graph.nodes.find((n) => n.name === 'conv2_block1_2_conv/conv')!.attributes?.pads, [1, 1, 1, 1]);
    const bn = graph.nodes.find((n) => n.op === 'BatchNormalization')!;
    assert.ok(Math.abs((bn.attributes!.epsilon as { float: number }).float - 1.001e-5) < 1e-12);
    const kernel = graph.initializers.find((i) => i.name === 'conv1/conv/kernel')!;
    assert.deepEqual(kernel.dims, [64, 3, 7, 7], 'OIHW');
    model.dispose();
  });

  test('conversion is deterministic (the cache relies on it)', () => {
    const model = buildDenseNet({ ...DENSENET_TINY, seed: 2 });
    assert.deepEqual(convertLayersModel(model), convertLayersModel(model));
    model.dispose();
  });

  test('padding before a max pool of possibly negative values stays a Pad; same-padded and strided layers match tfjs', async () => {
    const input = tf.input({ shape: [9, 11, 4] });
    let x = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as tf.SymbolicTensor;
    const a = tf.layers.conv2d({ filters: 5, kernelSize: [3, 2], strides: 2, padding: 'same', useBias: true, biasInitializer: 'randomNormal', activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    const b = tf.layers.averagePooling2d({ poolSize: 2, strides: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.concatenate().apply([a, b]) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 2, strides: 1, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.globalMaxPooling2d({}).apply(x) as tf.SymbolicTensor });
    assert.deepEqual(ops(model), ['Transpose', 'Pad', 'MaxPool', 'Conv', 'Relu', 'AveragePool', 'Concat', 'MaxPool', 'GlobalMaxPool', 'Flatten', 'Identity']);
    const r = await compare(model, 2);
    assert.ok(r.maxDiff < 1e-5, `max diff ${r.maxDiff}`);
    model.dispose();
  });

  test('an image-shaped output comes back NHWC', async () => {
    const input = tf.input({ shape: [6, 6, 2] });
    const y = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: y });
    const r = await compare(model, 2);
    assert.deepEqual(r.dims, [2, 6, 6, 3]);
    assert.ok(r.maxDiff < 1e-5);
    model.dispose();
  });

  test('a layer it does not know is refused by name', () => {
    const input = tf.input({ shape: [4, 4, 3] });
    const pooled = tf.layers.globalAveragePooling2d({}).apply(input) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2, name: 'head' }).apply(pooled) as tf.SymbolicTensor });
    assert.throws(() => convertLayersModel(model), (e: Error) => e instanceof OnnxConversionError && /head \(Dense\) is not supported/.test(e.message));
    model.dispose();
  });
});
