import * as tf from '@tensorflow/tfjs';

/** Shape of a DenseNet-BC network, as in keras.applications.densenet.DenseNet. */
export interface DenseNetArchitecture {
  /** Conv blocks per dense block (Keras: `blocks`). */
  blocks: readonly number[];
  growthRate: number;
  /** Side of the square RGB input. */
  inputSize: number;
}

export interface DenseNetConfig extends DenseNetArchitecture {
  /** Every random weight derives from this, so one seed always gives the same model. */
  seed: number;
}

export const DENSENET121: DenseNetArchitecture = Object.freeze({
  blocks: Object.freeze([6, 12, 24, 16]),
  growthRate: 32,
  inputSize: 224,
});

/** Same code path as DenseNet121, small enough to build and run in milliseconds in tests. */
export const DENSENET_TINY: DenseNetArchitecture = Object.freeze({
  blocks: Object.freeze([1, 1, 1, 1]),
  growthRate: 8,
  inputSize: 32,
});

export const DENSENET_PRESETS = { densenet121: DENSENET121, tiny: DENSENET_TINY } as const;
export type DenseNetPreset = keyof typeof DENSENET_PRESETS;

// Keras' DenseNet constants: stem width is fixed at 64, BN epsilon 1.001e-5, transitions halve channels.
const STEM_FILTERS = 64;
const BN_EPSILON = 1.001e-5;
const REDUCTION = 0.5;
const CHANNEL_AXIS = 3;

function isDenseNet121(arch: DenseNetArchitecture): boolean {
  return (
    arch.growthRate === DENSENET121.growthRate &&
    arch.inputSize === DENSENET121.inputSize &&
    arch.blocks.length === DENSENET121.blocks.length &&
    arch.blocks.every((b, i) => b === DENSENET121.blocks[i])
  );
}

/** Vectors from models with different ids are never compared, so the id names architecture and weights. */
export function denseNetModelId(config: DenseNetConfig): string {
  const name = isDenseNet121(config)
    ? 'densenet121'
    : `densenet-b${config.blocks.join('.')}-g${config.growthRate}-s${config.inputSize}`;
  return `${name}:random-seed-${config.seed}`;
}

/** Length of the pooled feature vector: stem width, plus growth per conv block, halved by each transition. */
export function denseNetDimension(arch: DenseNetArchitecture): number {
  let channels = STEM_FILTERS;
  arch.blocks.forEach((n, i) => {
    channels += n * arch.growthRate;
    if (i < arch.blocks.length - 1) channels = Math.floor(channels * REDUCTION);
  });
  return channels;
}

/**
 * Per-layer seed from the model seed and the layer name (FNV-1a), so a layer's weights do not
 * depend on the order layers are built in, and no two layers share a random stream.
 */
function layerSeed(seed: number, layerName: string): number {
  let h = 0x811c9dc5;
  for (const ch of `${seed}/${layerName}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * keras.applications.DenseNet121(include_top=False, pooling='avg') rebuilt layer by layer with the
 * same layer names, so the official Keras weights can later be loaded by name. Weights are random
 * (He-normal convolutions, identity batch norm) until then.
 */
export function buildDenseNet(config: DenseNetConfig): tf.LayersModel {
  if (config.blocks.length === 0 || config.blocks.some((b) => !Number.isInteger(b) || b < 1)) {
    throw new Error(`DenseNet blocks must be positive integers, got [${config.blocks.join(', ')}]`);
  }
  if (!Number.isInteger(config.seed)) throw new Error(`DenseNet seed must be an integer, got ${config.seed}`);

  // He-normal keeps activation variance steady through ReLU; with BN at identity a random network
  // built with Keras' default glorot would shrink its signal block after block.
  const conv = (name: string, filters: number, kernelSize: number, extra: { strides?: number; padding?: 'same' | 'valid' } = {}) =>
    tf.layers.conv2d({
      name,
      filters,
      kernelSize,
      strides: extra.strides ?? 1,
      padding: extra.padding ?? 'valid',
      useBias: false,
      kernelInitializer: tf.initializers.heNormal({ seed: layerSeed(config.seed, name) }),
    });
  // Inference-time BN with gamma 1, beta 0, mean 0, variance 1 (tfjs defaults) is near identity.
  const bn = (name: string) => tf.layers.batchNormalization({ name, axis: CHANNEL_AXIS, epsilon: BN_EPSILON });
  const relu = (name: string) => tf.layers.activation({ name, activation: 'relu' });

  const convBlock = (x: tf.SymbolicTensor, name: string): tf.SymbolicTensor => {
    let y = bn(`${name}_0_bn`).apply(x) as tf.SymbolicTensor;
    y = relu(`${name}_0_relu`).apply(y) as tf.SymbolicTensor;
    y = conv(`${name}_1_conv`, 4 * config.growthRate, 1).apply(y) as tf.SymbolicTensor;
    y = bn(`${name}_1_bn`).apply(y) as tf.SymbolicTensor;
    y = relu(`${name}_1_relu`).apply(y) as tf.SymbolicTensor;
    y = conv(`${name}_2_conv`, config.growthRate, 3, { padding: 'same' }).apply(y) as tf.SymbolicTensor;
    return tf.layers.concatenate({ name: `${name}_concat`, axis: CHANNEL_AXIS }).apply([x, y]) as tf.SymbolicTensor;
  };

  const transitionBlock = (x: tf.SymbolicTensor, name: string): tf.SymbolicTensor => {
    const channels = x.shape[CHANNEL_AXIS]!;
    let y = bn(`${name}_bn`).apply(x) as tf.SymbolicTensor;
    y = relu(`${name}_relu`).apply(y) as tf.SymbolicTensor;
    y = conv(`${name}_conv`, Math.floor(channels * REDUCTION), 1).apply(y) as tf.SymbolicTensor;
    return tf.layers.averagePooling2d({ name: `${name}_pool`, poolSize: 2, strides: 2 }).apply(y) as tf.SymbolicTensor;
  };

  const input = tf.input({ name: 'input_1', shape: [config.inputSize, config.inputSize, 3] });
  // The padding layers are unnamed in Keras; these are the names Keras gives them in a fresh session.
  let x = tf.layers.zeroPadding2d({ name: 'zero_padding2d', padding: 3 }).apply(input) as tf.SymbolicTensor;
  x = conv('conv1/conv', STEM_FILTERS, 7, { strides: 2 }).apply(x) as tf.SymbolicTensor;
  x = bn('conv1/bn').apply(x) as tf.SymbolicTensor;
  x = relu('conv1/relu').apply(x) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ name: 'zero_padding2d_1', padding: 1 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ name: 'pool1', poolSize: 3, strides: 2 }).apply(x) as tf.SymbolicTensor;

  config.blocks.forEach((blockCount, i) => {
    const stage = i + 2; // Keras numbers dense blocks conv2..conv5 and transitions pool2..pool4.
    for (let b = 1; b <= blockCount; b++) x = convBlock(x, `conv${stage}_block${b}`);
    if (i < config.blocks.length - 1) x = transitionBlock(x, `pool${stage}`);
  });

  x = bn('bn').apply(x) as tf.SymbolicTensor;
  x = relu('relu').apply(x) as tf.SymbolicTensor;
  const output = tf.layers.globalAveragePooling2d({ name: 'avg_pool' }).apply(x) as tf.SymbolicTensor;

  return tf.model({ name: isDenseNet121(config) ? 'densenet121' : 'densenet', inputs: input, outputs: output });
}
