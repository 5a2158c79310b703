import type { RgbImage } from '@lookalike/shared/domain/image';
import { markFailure, type Metrics } from '@lookalike/shared/metrics';
import type { Embedder, ModelInfo } from '@lookalike/shared/ports';

export interface BatchingOptions {
  /** Most images in one model call. */
  maxBatch: number;
  /** Longest an image waits for others before its batch goes anyway. */
  maxWaitMs: number;
  /** Batch size and duration per model call, and each image's latency. */
  metrics?: Pick<Metrics, 'batchEmbedded' | 'imageEmbedded'>;
}

interface Waiting {
  image: RgbImage;
  resolve(vector: Float32Array): void;
  reject(error: unknown): void;
}

/**
 * Turns many concurrent one-image calls (one per BullMQ job; BullMQ has no batch API) into few
 * model calls: a batch goes when it is full or when its first image has waited `maxWaitMs`.
 * As many calls run at once as the model has hosts (`parallelism`, default 1); while they work the
 * next batch fills.
 * A batch that fails is retried image by image, so one bad image fails only its own job.
 */
export class BatchingEmbedder implements Embedder {
  private queue: Waiting[] = [];
  private timer?: NodeJS.Timeout;
  /** Model calls under way, at most `maxInFlight`: one per model host, so every host has work. */
  private inFlight = 0;
  private readonly maxInFlight: number;
  /** Model calls made and images sent: for tests and metrics. */
  readonly stats = { calls: 0, images: 0, largestBatch: 0 };

  constructor(
    private readonly inner: Embedder,
    private readonly options: BatchingOptions,
  ) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new Error(`maxBatch must be a positive whole number, got ${options.maxBatch}`);
    this.maxInFlight = Math.max(1, inner.parallelism ?? 1);
  }

  get info(): ModelInfo {
    return this.inner.info;
  }

  embed(images: readonly RgbImage[]): Promise<Float32Array[]> {
    return Promise.all(
      images.map(
        (image) =>
          new Promise<Float32Array>((resolve, reject) => {
            const since = performance.now();
            this.queue.push({
              image,
              resolve: (vector) => {
                this.options.metrics?.imageEmbedded((performance.now() - since) / 1000);
                resolve(vector);
              },
              reject,
            });
            this.schedule();
          }),
      ),
    );
  }

  private schedule(): void {
    // With every host busy, the end of a call picks the queue up.
    if (this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    if (this.queue.length >= this.options.maxBatch || this.options.maxWaitMs === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.options.maxWaitMs);
    }
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.inFlight++;
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.schedule(); // another host may be free for what is left
    try {
      await this.run(batch);
    } finally {
      this.inFlight--;
      // What arrived meanwhile has waited at least one model call: send it without more waiting.
      if (this.queue.length > 0) void this.flush();
    }
  }

  private async run(batch: Waiting[]): Promise<void> {
    try {
      const vectors = await this.call(batch.map((w) => w.image));
      batch.forEach((w, i) => w.resolve(vectors[i]));
    } catch (error) {
      if (batch.length === 1) {
        batch[0].reject(error);
        return;
      }
      for (const w of batch) {
        try {
          w.resolve((await this.call([w.image]))[0]);
        } catch (e) {
          w.reject(e);
        }
      }
    }
  }

  private async call(images: RgbImage[]): Promise<Float32Array[]> {
    this.stats.calls++;
    this.stats.images += images.length;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, images.length);
    const started = performance.now();
    try {
      const vectors = await this.inner.embed(images);
      if (vectors.length !== images.length) throw new Error(`The model returned ${vectors.length} vectors for ${images.length} images`);
      return vectors;
    } catch (error) {
      // Failure metrics count it as a model failure, whatever the runtime threw.
      throw markFailure(error, 'model');
    } finally {
      this.options.metrics?.batchEmbedded(images.length, (performance.now() - started) / 1000);
    }
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.flush();
    await this.inner.close();
  }
}
