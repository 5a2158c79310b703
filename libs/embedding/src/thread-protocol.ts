import type { ModelInfo } from '@lookalike/shared/ports';
import type { DenseNetPreset } from './densenet.js';
import type { RuntimeChoice, RuntimeName } from './model-runtime.js';

/** What the thread needs to build its model; passed as workerData. */
export interface ThreadInit {
  preset: DenseNetPreset;
  seed: number;
  runtime: RuntimeChoice;
  /** ONNX Runtime intra-op threads. */
  threads: number;
  /** Where converted ONNX graphs are cached; unset: converted in memory on every start. */
  cacheDir?: string;
  weightsFile?: string;
  /** Run one image before reporting ready (default); off only where start-up time matters more. */
  warmup: boolean;
  /** Then, when above 1, a batch of this many: a GPU sets up its kernels per batch shape. */
  warmupBatch: number;
}

/** How the thread's runtime came to be, for the start-up log. */
export interface ThreadStartup {
  runtime: RuntimeName;
  /** With MODEL_RUNTIME=auto: faster runtimes that did not start here, each with its reason. */
  skipped: string[];
  /** ONNX runtimes: whether the converted graph came from the cache (`hit`) or was converted now. */
  graphCache?: string;
}

/** A batch packed into one buffer (image i at bytes [i*S*S*3, (i+1)*S*S*3)) so it transfers in one piece. */
export interface EmbedRequest {
  type: 'embed';
  id: number;
  count: number;
  width: number;
  height: number;
  pixels: Uint8Array;
}

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

export type ThreadMessage =
  | { type: 'ready'; info: Omit<ModelInfo, 'preprocessing'>; warmupMs: number; warmupBatches: number[]; startup: ThreadStartup }
  | { type: 'init-error'; error: SerializedError }
  | { type: 'result'; id: number; vectors: Float32Array[] }
  | { type: 'error'; id: number; error: SerializedError };

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack };
  return { name: 'Error', message: String(err) };
}

export function deserializeError(e: SerializedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}
