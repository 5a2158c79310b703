import type { RgbImage } from '@lookalike/shared/domain/image';
import { denseNetModelId, type DenseNetConfig } from './densenet.js';
import { identifyWeightsFile } from './weights/load-file.js';
import type { NamedWeights } from './weights/types.js';

/** Every runtime that can run the one DenseNet definition, fastest first within CPU and GPU. */
export const RUNTIME_NAMES = ['onnx-cuda', 'tfjs-node-gpu', 'onnx-cpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu'] as const;
export type RuntimeName = (typeof RUNTIME_NAMES)[number];
/** `MODEL_RUNTIME`: a runtime, or `auto` for the fastest that loads here. */
export type RuntimeChoice = 'auto' | RuntimeName;

/** The runtime asked for cannot start here (package missing, provider libraries missing, no GPU). */
export class RuntimeUnavailableError extends Error {
  override readonly name = 'RuntimeUnavailableError';
}

/** What the embedding thread needs from a model runtime: tfjs and ONNX Runtime both provide it. */
export interface ModelRuntime {
  readonly name: RuntimeName;
  /** What actually runs, for ModelInfo.runtime: `onnx-cpu (1 thread)`, `onnx-cuda (device 0)`, `tfjs-wasm`. */
  readonly description: string;
  /** Same weights → same id on every runtime: vectors from any of them may be compared. */
  readonly modelId: string;
  readonly dimension: number;
  readonly inputSize: number;
  readonly pretrained: boolean;
  readonly weightsSource: string;
  /** One L2-normalised vector per image; images must already be inputSize×inputSize RGB. */
  embed(images: readonly RgbImage[]): Float32Array[] | Promise<Float32Array[]>;
  dispose(): void | Promise<void>;
}

/** Which model a runtime runs: the same for every runtime given the same weights. */
export interface ModelIdentity {
  modelId: string;
  pretrained: boolean;
  weightsSource: string;
}

export interface ModelWeights extends ModelIdentity {
  /**
   * Decodes the file's weights to load into the model (once: later calls share the result);
   * undefined: keep the seeded random ones. Lazy, because an ONNX graph found in its cache needs none.
   */
  loadWeights?: () => Promise<NamedWeights>;
}

/**
 * The id and provenance of the weights every runtime builds its model from (one place, so ids agree).
 * Reads and digests the weights file, and fails here if it or a shard cannot be read; decoding waits for loadWeights.
 */
export async function resolveModelWeights(options: DenseNetConfig & { weightsFile?: string }): Promise<ModelWeights> {
  const randomId = denseNetModelId(options);
  if (!options.weightsFile) return { modelId: randomId, pretrained: false, weightsSource: `random (seed ${options.seed})` };
  const file = await identifyWeightsFile(options.weightsFile);
  let weights: Promise<NamedWeights> | undefined;
  return {
    // The architecture part of the id stays; the weights part names the file's digest.
    modelId: `${randomId.split(':')[0]}:${file.tag}`,
    pretrained: file.pretrained,
    weightsSource: file.source,
    loadWeights: () => (weights ??= file.parse()),
  };
}

/** Divides each row of `flat` (rows of `dimension`) by its L2 norm, into one buffer per vector. */
export function l2NormalizeRows(flat: Float32Array, count: number, dimension: number): Float32Array[] {
  return Array.from({ length: count }, (_, i) => {
    const v = flat.slice(i * dimension, (i + 1) * dimension);
    let sum = 0;
    for (const x of v) sum += x * x;
    // Same guard as the tfjs path: an all-zero row stays zero instead of becoming NaN.
    const inv = 1 / Math.max(Math.sqrt(sum), 1e-12);
    for (let j = 0; j < v.length; j++) v[j] *= inv;
    return v;
  });
}
