import type { ModelInfo } from '@lookalike/shared/ports';
import type { BackendName } from './runtime.js';
import type { DenseNetPreset } from './densenet.js';

/** What the thread needs to build its model; passed as workerData. */
export interface ThreadInit {
  preset: DenseNetPreset;
  seed: number;
  backend: BackendName;
  weightsFile?: string;
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
  | { type: 'ready'; info: Omit<ModelInfo, 'preprocessing'>; warmupMs: number }
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
