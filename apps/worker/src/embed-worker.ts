import { InvalidImageError } from '@lookalike/shared/domain/errors';
import { JobName, QueueName } from '@lookalike/shared/queue/names';
import type { EmbedImagePayload, EmbedQueryPayload, ReembedImagePayload } from '@lookalike/shared/ports';
import { DelayedError, type Job, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { EmbedImageService, EmbedQueryService } from './embed-image.service.js';
import type { ReembedImageService } from './reembed.service.js';

export interface EmbedWorkerServices {
  ingest: EmbedImageService;
  query: EmbedQueryService;
  reembed: ReembedImageService;
}

export interface EmbedWorkerOptions {
  prefix: string;
  concurrency: number;
  /** BullMQ's lockDuration; the stalled check runs at the same interval. */
  lockDurationMs?: number;
  shutdownTimeoutMs: number;
  /** How long a job meant for another model waits before it is offered again. */
  wrongModelDelayMs?: number;
  log: (msg: string, extra?: Record<string, unknown>) => void;
}

/**
 * The BullMQ transport: routes jobs by name to the use cases. The model runs in its own thread
 * (ThreadEmbedder), so this loop stays free to renew job locks while a batch computes.
 */
export class EmbedWorker {
  private readonly worker: Worker;
  /** Ids of jobs whose lock was lost and that BullMQ put back (or failed): each would run twice. */
  readonly stalled: string[] = [];

  constructor(
    connection: Redis,
    private readonly services: EmbedWorkerServices,
    private readonly options: EmbedWorkerOptions,
  ) {
    this.worker = new Worker(QueueName.Images, (job, token) => this.handle(job, token), {
      connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      ...(options.lockDurationMs ? { lockDuration: options.lockDurationMs, stalledInterval: options.lockDurationMs } : {}),
      autorun: false,
    });
    this.worker.on('stalled', (jobId) => {
      this.stalled.push(jobId);
      options.log('job stalled: its lock expired, it will run again', { jobId });
    });
    this.worker.on('failed', (job, error) => void this.onFailed(job, error));
    this.worker.on('error', (error) => options.log('worker error', { error: error.message }));
  }

  private async handle(job: Job, token?: string): Promise<unknown> {
    try {
      switch (job.name) {
        case JobName.EmbedImage:
          return await this.services.ingest.process((job.data as EmbedImagePayload).imageId);
        case JobName.EmbedQuery:
          return await this.services.query.process((job.data as EmbedQueryPayload).objectKey);
        case JobName.ReembedImage: {
          const outcome = await this.services.reembed.process(job.data as ReembedImagePayload);
          if (outcome === 'wrong-model') {
            // Back to the queue without spending an attempt, for a worker that runs the job's model.
            await job.moveToDelayed(Date.now() + (this.options.wrongModelDelayMs ?? 5000), token);
            throw new DelayedError();
          }
          return outcome;
        }
        default:
          throw new UnrecoverableError(`Unknown job name ${job.name}`);
      }
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      // A picture that cannot be decoded will not decode on a retry.
      if (error instanceof InvalidImageError) throw new UnrecoverableError(error.message);
      throw error;
    }
  }

  private async onFailed(job: Job | undefined, error: Error): Promise<void> {
    if (!job || (job.name !== JobName.EmbedImage && job.name !== JobName.ReembedImage)) return;
    const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    this.options.log(final ? 'job failed' : 'job failed, will retry', { jobId: job.id, error: error.message });
    if (!final) return;
    try {
      if (job.name === JobName.EmbedImage) await this.services.ingest.fail((job.data as EmbedImagePayload).imageId, error);
      else await this.services.reembed.fail(job.data as ReembedImagePayload, error);
    } catch (e) {
      this.options.log('could not mark image failed', { jobId: job.id, error: (e as Error).message });
    }
  }

  start(): void {
    void this.worker.run();
  }

  async waitUntilReady(): Promise<void> {
    await this.worker.waitUntilReady();
  }

  /** Finishes active jobs, bounded: a pod's grace period is not infinite (BullMQ's close has no timeout). */
  async close(): Promise<void> {
    await Promise.race([
      this.worker.close(),
      new Promise((resolve) => setTimeout(resolve, this.options.shutdownTimeoutMs).unref()),
    ]);
  }
}
