import { Worker } from 'node:worker_threads';
import type { RgbImage } from '@lookalike/shared/domain/image';
import type { Embedder, ModelInfo, Preprocessing } from '@lookalike/shared/ports';
import type { DenseNetPreset } from './densenet.js';
import { DEFAULT_PREPROCESSING, withPreprocessing } from './model-id.js';
import { assertRgbImage } from './preprocess.js';
import type { RuntimeChoice } from './model-runtime.js';
import { deserializeError, type EmbedRequest, type ThreadInit, type ThreadMessage, type ThreadStartup } from './thread-protocol.js';

export interface ThreadEmbedderOptions {
  preset: DenseNetPreset;
  /** Seed of the random weights; defaults to 1. */
  seed?: number;
  /**
   * `auto` (default): the fastest runtime that starts here (see autoRuntimeOrder); or one of
   * onnx-cpu, onnx-cuda, tfjs-node-gpu, tfjs-node, tfjs-wasm (falls back to tfjs-cpu if wasm cannot
   * start), tfjs-cpu: then a runtime that cannot start is an error.
   */
  runtime?: RuntimeChoice;
  /** ONNX Runtime intra-op threads; default 1. The tfjs runtimes ignore it. */
  threads?: number;
  /** Where converted ONNX graphs are cached by model id; unset: converted in memory at every start. */
  cacheDir?: string;
  /** A Keras .h5 or tfjs model.json on local disk; unset: seeded random weights. */
  weightsFile?: string;
  /** Run one image in the thread before create() resolves, so the first real call is not slow; default true. */
  warmup?: boolean;
  /** With warm-up, also a batch of this many images (the batch size the caller will send); default 1. */
  warmupBatch?: number;
  /** Resize and crop before the model; defaults to bilinear, no crop (Keras' own resize). */
  preprocessing?: Preprocessing;
}

interface Pending {
  resolve(vectors: Float32Array[]): void;
  reject(err: Error): void;
}

// A .mjs bootstrap, because a Node 20 worker cannot load a .ts entry even under tsx.
const THREAD_ENTRY = new URL('./embed-thread-boot.mjs', import.meta.url);

/**
 * Embedder whose model lives in a worker thread: a DenseNet121 forward pass takes 25–200 ms of
 * pure CPU (ONNX Runtime's run() is synchronous too), which must not stall the caller's event loop.
 */
export class ThreadEmbedder implements Embedder {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedReason: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly info: ModelInfo,
    /** Milliseconds the warm-up took in the thread (the first call is the slowest); 0 without warm-up. */
    readonly warmupMs: number,
    /** The batch sizes the warm-up ran, e.g. [1, 8]; [] without warm-up. */
    readonly warmupBatches: readonly number[],
    /** Which runtime started, what `auto` skipped and why, where the ONNX graph came from. */
    readonly startup: ThreadStartup,
  ) {
    worker.on('message', (msg: ThreadMessage) => this.onMessage(msg));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`Embedding thread exited with code ${code}`)));
    // An idle embedder must not keep the process alive; embed() refs the thread while it waits.
    worker.unref();
  }

  /** Starts the thread, builds the model and runs one warm-up image before resolving. */
  static async create(options: ThreadEmbedderOptions): Promise<ThreadEmbedder> {
    const init: ThreadInit = {
      preset: options.preset,
      seed: options.seed ?? 1,
      runtime: options.runtime ?? 'auto',
      threads: options.threads ?? 1,
      cacheDir: options.cacheDir,
      weightsFile: options.weightsFile,
      warmup: options.warmup ?? true,
      warmupBatch: options.warmupBatch ?? 1,
    };
    const worker = new Worker(THREAD_ENTRY, { workerData: init });
    // Startup listeners are removed one by one: Worker keeps internal listeners of its own, and
    // removeAllListeners() would silently cut the message channel.
    let onMessage!: (msg: ThreadMessage) => void;
    let onError!: (err: Error) => void;
    let onExit!: (code: number) => void;
    try {
      const ready = await new Promise<Extract<ThreadMessage, { type: 'ready' }>>((resolve, reject) => {
        onMessage = (msg) => {
          if (msg.type === 'ready') resolve(msg);
          else if (msg.type === 'init-error') reject(deserializeError(msg.error));
          else reject(new Error(`Embedding thread sent "${msg.type}" before it was ready`));
        };
        onError = reject;
        onExit = (code) => reject(new Error(`Embedding thread exited with code ${code} while starting`));
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      });
      const preprocessing = options.preprocessing ?? DEFAULT_PREPROCESSING;
      const info = { ...ready.info, id: withPreprocessing(ready.info.id, preprocessing), preprocessing };
      return new ThreadEmbedder(worker, info, ready.warmupMs, ready.warmupBatches, ready.startup);
    } catch (err) {
      await worker.terminate();
      throw err;
    } finally {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    }
  }

  async embed(images: readonly RgbImage[]): Promise<Float32Array[]> {
    if (this.closedReason) throw this.closedReason;
    if (images.length === 0) return [];
    const s = this.info.inputSize;
    const bytes = s * s * 3;
    // Copy into one fresh buffer and transfer it: the caller keeps its images, and Node's pooled
    // Buffers (what sharp returns) cannot be transferred anyway.
    const pixels = new Uint8Array(images.length * bytes);
    images.forEach((image, i) => {
      assertRgbImage(image);
      if (image.width !== s || image.height !== s) {
        throw new Error(`Model ${this.info.id} takes ${s}x${s} images, got ${image.width}x${image.height}`);
      }
      pixels.set(image.data, i * bytes);
    });

    const id = this.nextId++;
    const result = new Promise<Float32Array[]>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    if (this.pending.size === 1) this.worker.ref();
    const request: EmbedRequest = { type: 'embed', id, count: images.length, width: s, height: s, pixels };
    this.worker.postMessage(request, [pixels.buffer]);
    return result;
  }

  async close(): Promise<void> {
    if (this.closedReason) return;
    this.fail(new Error('ThreadEmbedder is closed'));
    await this.worker.terminate();
  }

  private onMessage(msg: ThreadMessage): void {
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const call = this.settle(msg.id);
    if (!call) return;
    if (msg.type === 'result') call.resolve(msg.vectors);
    else call.reject(deserializeError(msg.error));
  }

  private settle(id: number): Pending | undefined {
    const call = this.pending.get(id);
    this.pending.delete(id);
    if (call && this.pending.size === 0) this.worker.unref();
    return call;
  }

  /** The thread is gone (or going): every waiting call fails, and so does every later one. */
  private fail(reason: Error): void {
    this.closedReason ??= reason;
    for (const [id, call] of this.pending) {
      this.settle(id);
      call.reject(reason);
    }
  }
}
