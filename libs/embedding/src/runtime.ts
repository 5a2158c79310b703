import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { RgbImage } from '@lookalike/shared/domain/image';
import { buildDenseNet, denseNetDimension, type DenseNetConfig } from './densenet.js';
import { resolveModelWeights, RuntimeUnavailableError, type ModelRuntime, type RuntimeName } from './model-runtime.js';
import { preprocessBatch } from './preprocess.js';
import { applyNamedWeights } from './weights/apply.js';

/** tfjs backends: the two in package.json, and the two native ones that are used when installed. */
export type BackendName = 'wasm' | 'cpu' | 'node' | 'node-gpu';

const NATIVE_PACKAGES = { node: '@tensorflow/tfjs-node', 'node-gpu': '@tensorflow/tfjs-node-gpu' } as const;

let backendReady: Promise<BackendName> | undefined;

/**
 * tfjs-node(-gpu) download libtensorflow when installed, so they are not dependencies: they are
 * imported when present (they register the 'tensorflow' backend on the shared tfjs engine).
 */
async function startNative(backend: 'node' | 'node-gpu'): Promise<BackendName> {
  const pkg = NATIVE_PACKAGES[backend];
  try {
    await import(/* a variable keeps TypeScript from resolving a package that is usually absent */ pkg as string);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
      throw new RuntimeUnavailableError(
        `tfjs-${backend} needs ${pkg}, which is not installed. Install ${pkg}@4.22.0 (its install step downloads libtensorflow` +
          `${backend === 'node-gpu' ? ' 2.9.1 GPU, which needs CUDA 11.2 and cuDNN 8.1' : ''}); or pick another MODEL_RUNTIME.`,
      );
    }
    throw new RuntimeUnavailableError(`tfjs-${backend}: ${pkg} is installed but failed to load: ${e.message}`);
  }
  if (!(await tf.setBackend('tensorflow'))) throw new RuntimeUnavailableError(`tfjs-${backend}: the tensorflow backend did not start`);
  await tf.ready();
  return backend;
}

async function selectBackend(preferred: BackendName): Promise<BackendName> {
  // The cpu backend greets Node users on first use; prod mode silences tfjs' console warnings.
  tf.enableProdMode();
  if (preferred === 'node' || preferred === 'node-gpu') return startNative(preferred);
  if (preferred === 'wasm') {
    try {
      // Point emscripten at the .wasm files on disk rather than relying on where the bundle lives.
      const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
      setWasmPaths(path.dirname(entry) + path.sep);
      if (await tf.setBackend('wasm')) {
        await tf.ready();
        return 'wasm';
      }
    } catch {
      // Fall through to cpu: a slower embedder is better than none.
    }
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs could not start the cpu backend');
  await tf.ready();
  return 'cpu';
}

/**
 * Starts a tfjs backend once per thread (tfjs' backend is global state). Later calls get the
 * backend that actually started, whatever they asked for. A backend that failed to start
 * (tfjs-node missing) is not remembered, so the caller may try another.
 */
export function initBackend(preferred: BackendName = 'wasm'): Promise<BackendName> {
  backendReady ??= selectBackend(preferred).catch((error: unknown) => {
    backendReady = undefined;
    throw error;
  });
  return backendReady;
}

/**
 * Some backend to build a model on when this thread's runtime is not tfjs (the ONNX converter):
 * cpu, without claiming the thread, so a tfjs runtime started later still gets the backend it asks for.
 */
export async function ensureScratchBackend(): Promise<void> {
  if (backendReady) {
    await backendReady;
    return;
  }
  tf.enableProdMode();
  // setBackend, not getBackend: the latter would start the highest-priority backend (wasm) first.
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs could not start the cpu backend');
}

export interface RuntimeOptions extends DenseNetConfig {
  backend?: BackendName;
  /** A Keras .h5 or tfjs model.json to load; unset: the seeded random weights. */
  weightsFile?: string;
}

/** A DenseNet feature extractor on tfjs. Synchronous and CPU-bound: run it off the main thread. */
export class EmbeddingRuntime implements ModelRuntime {
  private constructor(
    private readonly model: tf.LayersModel,
    readonly modelId: string,
    readonly dimension: number,
    readonly inputSize: number,
    readonly backend: BackendName,
    readonly pretrained: boolean,
    readonly weightsSource: string,
  ) {}

  static async create(options: RuntimeOptions): Promise<EmbeddingRuntime> {
    const backend = await initBackend(options.backend);
    // The backend is per thread: asking for a native one in a thread that already runs another
    // must not quietly run elsewhere (wasm → cpu is the one documented fallback).
    const wanted = options.backend ?? 'wasm';
    if (backend !== wanted && wanted !== 'wasm') {
      throw new RuntimeUnavailableError(`tfjs-${wanted} was asked for, but this thread already runs tfjs-${backend}`);
    }
    const weights = await resolveModelWeights(options);
    const fileWeights = await weights.loadWeights?.();
    const model = buildDenseNet(options);
    try {
      if (fileWeights) applyNamedWeights(model, fileWeights);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return new EmbeddingRuntime(model, weights.modelId, denseNetDimension(options), options.inputSize, backend, weights.pretrained, weights.weightsSource);
  }

  get name(): RuntimeName {
    return `tfjs-${this.backend}`;
  }

  /** No thread count: tfjs-wasm runs single-threaded in Node (its thread pool does not work there), tfjs-cpu is plain JS. */
  get description(): string {
    return this.name;
  }

  /** One L2-normalised vector per image; images must already be inputSize×inputSize RGB. */
  embed(images: readonly RgbImage[]): Float32Array[] {
    if (images.length === 0) return [];
    const s = this.inputSize;
    const pixels = preprocessBatch(images, s, this.modelId);
    const flat = tf.tidy(() => {
      const batch = tf.tensor4d(pixels, [images.length, s, s, 3]);
      const features = this.model.predict(batch) as tf.Tensor2D;
      // Guard the division so an all-zero feature row stays zero instead of becoming NaN.
      const norms = features.norm('euclidean', 1, true).maximum(1e-12);
      return features.div(norms).dataSync() as Float32Array;
    });
    // One buffer per vector, so each can be transferred or stored on its own.
    return images.map((_, i) => flat.slice(i * this.dimension, (i + 1) * this.dimension));
  }

  dispose(): void {
    this.model.dispose();
  }
}
