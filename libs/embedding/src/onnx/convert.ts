/**
 * tfjs LayersModel (as buildDenseNet makes it, with whatever weights it holds) → ONNX ModelProto.
 * The graph is always generated from the one model definition, never written by hand.
 *
 * Layout: the ONNX graph takes the same NHWC float input as the tfjs model and transposes it once
 * to NCHW (ONNX's layout); every 4-D tensor inside is NCHW, kernels go HWIO → OIHW.
 */
import type * as tf from '@tensorflow/tfjs';
import { shortWeightName } from '../weights/types.js';
import { encodeModel, type AttributeValue, type OnnxGraph, type OnnxInitializer, type OnnxNode, type OnnxValueInfo } from './proto.js';

export const ONNX_OPSET = 13;
/** IR 8 goes with opset 13..16 and is what ORT ≥ 1.10 reads. */
const ONNX_IR_VERSION = 8;
/** Bump when the emitted graph changes: it is part of the cache key, so old cached files are not reused. */
export const CONVERTER_VERSION = 1;
export const ONNX_INPUT = 'input';
export const ONNX_OUTPUT = 'features';

export class OnnxConversionError extends Error {
  override readonly name = 'OnnxConversionError';
}

type Layer = tf.LayersModel['layers'][number];
type Config = Record<string, unknown>;

/** Explicit spatial padding [top, left, bottom, right], as ONNX `pads` for a 2-D op. */
type Pads = [number, number, number, number];

interface Value {
  /** ONNX tensor name. */
  name: string;
  rank: number;
  /** Known ≥ 0 everywhere (after a ReLU): zero padding before a max pool may then become the pool's own pads. */
  nonNegative: boolean;
  /** A ZeroPadding2D folded into its only consumer: the consumer reads `name` and adds these pads. */
  pendingPads?: Pads;
}

const pair = (v: unknown, what: string): [number, number] => {
  const a = Array.isArray(v) ? v : [v, v];
  if (a.length !== 2 || !a.every((x) => Number.isInteger(x))) throw new OnnxConversionError(`${what}: expected two integers, got ${JSON.stringify(v)}`);
  return [a[0], a[1]];
};

/** TensorFlow's `same` padding: output ceil(in/stride); the odd pixel goes bottom/right. */
function samePads(inH: number, inW: number, kernel: [number, number], strides: [number, number], dilations: [number, number]): Pads {
  const one = (size: number, k: number, s: number, d: number) => {
    const total = Math.max((Math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)] as const;
  };
  const [t, b] = one(inH, kernel[0], strides[0], dilations[0]);
  const [l, r] = one(inW, kernel[1], strides[1], dilations[1]);
  return [t, l, b, r];
}

const addPads = (a: Pads, b: Pads): Pads => [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];

/** HWIO (Keras) → OIHW (ONNX). */
function hwioToOihw(values: Float32Array, [kh, kw, ci, co]: number[]): Float32Array {
  const out = new Float32Array(values.length);
  for (let h = 0; h < kh; h++)
    for (let w = 0; w < kw; w++)
      for (let i = 0; i < ci; i++) {
        const src = ((h * kw + w) * ci + i) * co;
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + w] = values[src + o];
      }
  return out;
}

/** NHWC axis (possibly negative) of a rank-`rank` Keras tensor → the same axis in our NCHW graph. */
function toOnnxAxis(axis: number, rank: number, layer: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new OnnxConversionError(`${layer}: axis ${axis} out of range for rank ${rank}`);
  if (rank !== 4) return a;
  return [0, 2, 3, 1][a]!;
}

export interface ConvertOptions {
  /** Stored as the model's metadata_props (e.g. the model id), for people inspecting the file. */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Walks the layers in topological order and emits one or two ONNX nodes per layer. Supported:
 * InputLayer, ZeroPadding2D, Conv2D (linear/relu activation), BatchNormalization (channel axis),
 * Activation/ReLU (relu, linear), MaxPooling2D, AveragePooling2D, Concatenate,
 * GlobalAveragePooling2D, GlobalMaxPooling2D; anything else is refused by name.
 */
export function convertLayersModel(model: tf.LayersModel, options: ConvertOptions = {}): Uint8Array {
  return encodeModel(toOnnxGraph(model), {
    opset: ONNX_OPSET,
    irVersion: ONNX_IR_VERSION,
    producerName: 'lookalike',
    producerVersion: `tfjs-to-onnx ${CONVERTER_VERSION}`,
    docString: `Converted from the tfjs LayersModel "${model.name}"`,
    metadata: options.metadata,
  });
}

/** The graph before encoding (convertLayersModel's first half; tests inspect it). */
export function toOnnxGraph(model: tf.LayersModel): OnnxGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new OnnxConversionError(`Only single-input, single-output models convert; ${model.name} has ${model.inputs.length} and ${model.outputs.length}`);
  }
  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = [];
  const inputs: OnnxValueInfo[] = [];
  const values = new Map<string, Value>();

  // How many layers read each layer's output: a padding is folded only into a sole consumer.
  const consumers = new Map<string, Layer[]>();
  for (const layer of model.layers) {
    for (const src of inboundLayers(layer)) consumers.set(src.name, [...(consumers.get(src.name) ?? []), layer]);
  }

  const emit = (op: string, name: string, ins: string[], outs: string[], attributes?: Record<string, AttributeValue>) =>
    nodes.push({ op, name, inputs: ins, outputs: outs, attributes });
  const constant = (name: string, dims: number[], data: Float32Array | BigInt64Array) => {
    initializers.push({ name, dims, data });
    return name;
  };
  const input = (layer: Layer): Value => {
    const [src] = inboundLayers(layer);
    const v = src && values.get(src.name);
    if (!v) throw new OnnxConversionError(`${layer.name}: its input ${src?.name ?? '(none)'} was not converted first`);
    return v;
  };
  const plain = (layer: Layer, v: Value): string => {
    if (v.pendingPads) throw new OnnxConversionError(`${layer.name}: internal error, a folded padding reached a layer that cannot take it`);
    return v.name;
  };
  const weightsOf = (layer: Layer): Map<string, { shape: number[]; values: Float32Array }> => {
    const tensors = layer.getWeights(); // the variables' own tensors: read, never dispose
    return new Map(
      layer.weights.map((w, i) => [shortWeightName(w.originalName), { shape: [...w.shape] as number[], values: tensors[i]!.dataSync() as Float32Array }]),
    );
  };
  const spatialIn = (layer: Layer): [number, number] => {
    const shape = (layer.input as tf.SymbolicTensor).shape;
    const [h, w] = [shape[1], shape[2]];
    if (shape.length !== 4 || !h || !w) throw new OnnxConversionError(`${layer.name}: needs a static NHWC input shape, got ${JSON.stringify(shape)}`);
    return [h, w];
  };
  const requireChannelsLast = (layer: Layer, cfg: Config) => {
    if (cfg.dataFormat !== undefined && cfg.dataFormat !== 'channelsLast') {
      throw new OnnxConversionError(`${layer.name}: only channelsLast layers convert, got ${String(cfg.dataFormat)}`);
    }
  };
  const activation = (layer: Layer, kind: unknown, x: string, out: string): boolean => {
    if (kind === 'relu') {
      emit('Relu', `${layer.name}/relu`, [x], [out]);
      return true;
    }
    if (kind === 'linear' || kind === undefined || kind === null) {
      if (x !== out) emit('Identity', `${layer.name}/identity`, [x], [out]);
      return false;
    }
    throw new OnnxConversionError(`${layer.name}: activation ${String(kind)} is not supported by the ONNX converter`);
  };

  for (const layer of model.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as Config;
    const out = layer.name;
    switch (cls) {
      case 'InputLayer': {
        const shape = (cfg.batchInputShape as (number | null)[]) ?? [];
        if (shape.length !== 4 || shape.slice(1).some((d) => !d)) {
          throw new OnnxConversionError(`${out}: expected a static NHWC image input, got ${JSON.stringify(shape)}`);
        }
        // Dynamic batch; the rest of the graph is NCHW after this one Transpose.
        inputs.push({ name: ONNX_INPUT, shape: ['batch', ...(shape.slice(1) as number[])] });
        emit('Transpose', `${out}/to_nchw`, [ONNX_INPUT], [out], { perm: [0, 3, 1, 2] });
        values.set(out, { name: out, rank: 4, nonNegative: false });
        break;
      }
      case 'ZeroPadding2D': {
        requireChannelsLast(layer, cfg);
        const [[t, b], [l, r]] = (cfg.padding as number[][]).map((p, i) => pair(p, `${out} padding[${i}]`));
        const src = input(layer);
        const pads: Pads = addPads(src.pendingPads ?? [0, 0, 0, 0], [t!, l!, b!, r!]);
        const next = consumers.get(out) ?? [];
        const sole = next.length === 1 ? next[0]! : undefined;
        const soleCfg = sole?.getConfig() as Config | undefined;
        // Keras pads explicitly before `valid` ops. A Conv reads zeros either way; a max pool
        // ignores ONNX pads, which equals padding with zeros only when no real value is below 0.
        const foldable =
          sole !== undefined &&
          !src.pendingPads &&
          (sole.getClassName() === 'Conv2D' || (sole.getClassName() === 'MaxPooling2D' && src.nonNegative)) &&
          soleCfg?.padding === 'valid';
        if (foldable) {
          values.set(out, { ...src, pendingPads: pads });
        } else {
          const padsName = constant(`${out}/pads`, [8], BigInt64Array.from([0, 0, pads[0], pads[1], 0, 0, pads[2], pads[3]].map(BigInt)));
          emit('Pad', out, [plain(layer, src), padsName], [out]);
          values.set(out, { name: out, rank: 4, nonNegative: src.nonNegative });
        }
        break;
      }
      case 'Conv2D': {
        requireChannelsLast(layer, cfg);
        const src = input(layer);
        const kernelSize = pair(cfg.kernelSize, `${out} kernelSize`);
        const strides = pair(cfg.strides ?? 1, `${out} strides`);
        const dilations = pair(cfg.dilationRate ?? 1, `${out} dilationRate`);
        let pads: Pads = src.pendingPads ?? [0, 0, 0, 0];
        if (cfg.padding === 'same') pads = addPads(pads, samePads(...spatialIn(layer), kernelSize, strides, dilations));
        else if (cfg.padding !== 'valid') throw new OnnxConversionError(`${out}: padding ${String(cfg.padding)} is not supported`);
        const w = weightsOf(layer);
        const kernel = w.get('kernel');
        if (!kernel || kernel.shape.length !== 4) throw new OnnxConversionError(`${out}: no 4-D kernel among its weights`);
        const [kh, kw, ci, co] = kernel.shape as [number, number, number, number];
        const ins = [src.name, constant(`${out}/kernel`, [co, ci, kh, kw], hwioToOihw(kernel.values, kernel.shape))];
        const bias = w.get('bias');
        if (cfg.useBias && bias) ins.push(constant(`${out}/bias`, [co], Float32Array.from(bias.values)));
        const convOut = cfg.activation === 'linear' || cfg.activation == null ? out : `${out}/pre_activation`;
        emit('Conv', `${out}/conv`, ins, [convOut], { kernel_shape: [kh, kw], strides, dilations, pads, group: 1 });
        const relu = activation(layer, cfg.activation, convOut, out);
        values.set(out, { name: out, rank: 4, nonNegative: relu });
        break;
      }
      case 'BatchNormalization': {
        const src = input(layer);
        const axis = cfg.axis as number;
        if (src.rank !== 4 || toOnnxAxis(axis, 4, out) !== 1) {
          throw new OnnxConversionError(`${out}: only batch norm over the channel axis of an image converts (axis ${axis}, rank ${src.rank})`);
        }
        const w = weightsOf(layer);
        const mean = w.get('moving_mean');
        const variance = w.get('moving_variance');
        if (!mean || !variance) throw new OnnxConversionError(`${out}: moving_mean / moving_variance missing`);
        const c = mean.values.length;
        // scale=false / center=false layers have no gamma / beta: Keras uses 1 and 0.
        const gamma = cfg.scale === false ? new Float32Array(c).fill(1) : w.get('gamma')?.values;
        const beta = cfg.center === false ? new Float32Array(c) : w.get('beta')?.values;
        if (!gamma || !beta) throw new OnnxConversionError(`${out}: gamma / beta missing`);
        const ins = [
          plain(layer, src),
          constant(`${out}/gamma`, [c], Float32Array.from(gamma)),
          constant(`${out}/beta`, [c], Float32Array.from(beta)),
          constant(`${out}/moving_mean`, [c], Float32Array.from(mean.values)),
          constant(`${out}/moving_variance`, [c], Float32Array.from(variance.values)),
        ];
        // Epsilon from the layer (DenseNet: 1.001e-5); ONNX's default 1e-5 would move the vectors.
        emit('BatchNormalization', out, ins, [out], { epsilon: { float: cfg.epsilon as number } });
        values.set(out, { name: out, rank: 4, nonNegative: false });
        break;
      }
      case 'Activation':
      case 'ReLU': {
        const src = input(layer);
        const kind = cls === 'ReLU' ? 'relu' : cfg.activation;
        if (cls === 'ReLU' && (cfg.maxValue != null || (cfg.alpha as number | undefined))) {
          throw new OnnxConversionError(`${out}: ReLU with maxValue/alpha is not supported`);
        }
        const relu = activation(layer, kind, plain(layer, src), out);
        values.set(out, { name: out, rank: src.rank, nonNegative: relu || src.nonNegative });
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        requireChannelsLast(layer, cfg);
        const src = input(layer);
        const kernel = pair(cfg.poolSize, `${out} poolSize`);
        const strides = pair(cfg.strides ?? cfg.poolSize, `${out} strides`);
        let pads: Pads = src.pendingPads ?? [0, 0, 0, 0];
        if (cfg.padding === 'same') pads = addPads(pads, samePads(...spatialIn(layer), kernel, strides, [1, 1]));
        else if (cfg.padding !== 'valid') throw new OnnxConversionError(`${out}: padding ${String(cfg.padding)} is not supported`);
        const attrs: Record<string, AttributeValue> = { kernel_shape: kernel, strides, pads };
        // TF's `same` average pooling divides by the real pixels only.
        if (cls === 'AveragePooling2D') attrs.count_include_pad = 0;
        emit(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', out, [src.name], [out], attrs);
        values.set(out, { name: out, rank: 4, nonNegative: src.nonNegative });
        break;
      }
      case 'Concatenate': {
        const srcs = inboundLayers(layer).map((l) => values.get(l.name));
        if (srcs.some((v) => !v)) throw new OnnxConversionError(`${out}: an input was not converted first`);
        const vs = srcs as Value[];
        const rank = vs[0]!.rank;
        emit('Concat', out, vs.map((v) => plain(layer, v)), [out], { axis: toOnnxAxis((cfg.axis as number) ?? -1, rank, out) });
        values.set(out, { name: out, rank, nonNegative: vs.every((v) => v.nonNegative) });
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        requireChannelsLast(layer, cfg);
        if (cfg.keepDims) throw new OnnxConversionError(`${out}: keepDims is not supported`);
        const src = input(layer);
        const op = cls === 'GlobalAveragePooling2D' ? 'GlobalAveragePool' : 'GlobalMaxPool';
        emit(op, `${out}/pool`, [plain(layer, src)], [`${out}/nc11`]);
        emit('Flatten', `${out}/flatten`, [`${out}/nc11`], [out], { axis: 1 });
        values.set(out, { name: out, rank: 2, nonNegative: src.nonNegative });
        break;
      }
      default:
        throw new OnnxConversionError(`Layer ${out} (${cls}) is not supported by the ONNX converter`);
    }
  }

  const last = model.outputs[0]!.sourceLayer.name;
  const result = values.get(last);
  if (!result) throw new OnnxConversionError(`The model output ${last} was not converted`);
  const outShape = model.outputs[0]!.shape.slice(1) as number[];
  if (result.rank === 4) {
    // Give back NHWC, as the tfjs model does.
    emit('Transpose', `${ONNX_OUTPUT}/to_nhwc`, [plain(model.layers.at(-1)!, result)], [ONNX_OUTPUT], { perm: [0, 2, 3, 1] });
  } else {
    emit('Identity', ONNX_OUTPUT, [result.name], [ONNX_OUTPUT]);
  }

  return { name: model.name, nodes, initializers, inputs, outputs: [{ name: ONNX_OUTPUT, shape: ['batch', ...outShape] }] };
}

function inboundLayers(layer: Layer): Layer[] {
  if (layer.inboundNodes.length > 1) throw new OnnxConversionError(`${layer.name}: shared layers are not supported`);
  return (layer.inboundNodes[0]?.inboundLayers ?? []) as Layer[];
}
