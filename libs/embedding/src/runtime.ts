import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { RgbImage } from '@lookalike/shared/domain/image';
import { buildDenseNet, denseNetDimension, denseNetModelId, type DenseNetConfig } from './densenet.js';
import { preprocessImage } from './preprocess.js';
import { applyNamedWeights } from './weights/apply.js';
import { loadWeightsFile } from './weights/load-file.js';

export type BackendName = 'wasm' | 'cpu';

let backendReady: Promise<BackendName> | undefined;

async function selectBackend(preferred: BackendName): Promise<BackendName> {
  // The cpu backend greets Node users on first use; prod mode silences tfjs' console warnings.
  tf.enableProdMode();
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
 * backend that actually started, whatever they asked for.
 */
export function initBackend(preferred: BackendName = 'wasm'): Promise<BackendName> {
  backendReady ??= selectBackend(preferred);
  return backendReady;
}

export interface RuntimeOptions extends DenseNetConfig {
  backend?: BackendName;
  /** A Keras .h5 or tfjs model.json to load; unset: the seeded random weights. */
  weightsFile?: string;
}

/** A DenseNet feature extractor on tfjs. Synchronous and CPU-bound: run it off the main thread. */
export class EmbeddingRuntime {
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
    const model = buildDenseNet(options);
    const randomId = denseNetModelId(options);
    if (!options.weightsFile) {
      return new EmbeddingRuntime(model, randomId, denseNetDimension(options), options.inputSize, backend, false, `random (seed ${options.seed})`);
    }
    try {
      const loaded = await loadWeightsFile(options.weightsFile);
      applyNamedWeights(model, loaded.weights);
      // The architecture part of the id stays; the weights part names the file's digest.
      const id = `${randomId.split(':')[0]}:${loaded.tag}`;
      return new EmbeddingRuntime(model, id, denseNetDimension(options), options.inputSize, backend, loaded.pretrained, loaded.source);
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** One L2-normalised vector per image; images must already be inputSize×inputSize RGB. */
  embed(images: readonly RgbImage[]): Float32Array[] {
    if (images.length === 0) return [];
    const s = this.inputSize;
    const pixels = new Float32Array(images.length * s * s * 3);
    images.forEach((image, i) => {
      if (image.width !== s || image.height !== s) {
        throw new Error(`Model ${this.modelId} takes ${s}x${s} images, got ${image.width}x${image.height}`);
      }
      preprocessImage(image, pixels, i * s * s * 3);
    });
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
