import { InvalidImageError } from '@lookalike/shared/domain/errors';
import type { Logger } from '@lookalike/shared/logger';
import { failureReason, type Metrics, noopMetrics } from '@lookalike/shared/metrics';
import { JobName, QueueName } from '@lookalike/shared/queue/names';
import { type EmbedImageJobData, type EmbedQueryJobData, type ReembedImageJobData, requestIdOf } from '@lookalike/shared/queue/payloads';
import { runWithContext } from '@lookalike/shared/request-context';
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
  /** Each job's lines go to a child of it bound to jobId, job and requestId; without it they go to `log`. */
  logger?: Logger;
  metrics?: Metrics;
}

/** The log calls a job makes: pino's, or `log` dressed as them. */
interface JobLog {
  debug(fields: Record<string, unknown>, msg: string): void;
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
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

  private get metrics(): Metrics {
    return this.options.metrics ?? noopMetrics;
  }

  /** A job's log: its lines carry jobId, job name and the requestId of the API request that enqueued it (when it has one). */
  private jobLog(job: Job): JobLog {
    const requestId = requestIdOf(job.data);
    const bindings = { jobId: job.id, job: job.name, ...(requestId ? { requestId } : {}) };
    if (this.options.logger) return this.options.logger.child(bindings);
    const log = (fields: Record<string, unknown>, msg: string) => this.options.log(msg, { ...bindings, ...fields });
    return { debug: () => {}, info: log, warn: log };
  }

  /** Runs the job in its request context (so what it logs or enqueues carries the requestId), timed and counted. */
  private handle(job: Job, token?: string): Promise<unknown> {
    return runWithContext({ requestId: requestIdOf(job.data), jobId: job.id, job: job.name }, async () => {
      const log = this.jobLog(job);
      const started = performance.now();
      const seconds = () => (performance.now() - started) / 1000;
      log.debug({ attempt: job.attemptsMade + 1 }, 'job started');
      try {
        const result = await this.route(job, token);
        this.metrics.jobFinished(job.name, 'completed', seconds());
        log.debug({ durationMs: Math.round(seconds() * 1000) }, 'job completed');
        return result;
      } catch (error) {
        if (error instanceof DelayedError) {
          this.metrics.jobFinished(job.name, 'delayed', seconds());
          throw error;
        }
        // attemptsMade counts the attempts that failed before this one.
        const final = error instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        const reason = failureReason(error instanceof UnrecoverableError && error.cause ? error.cause : error);
        this.metrics.jobFinished(job.name, 'failed', seconds());
        this.metrics.jobFailed(job.name, reason, final);
        log.debug({ durationMs: Math.round(seconds() * 1000), reason, error: (error as Error)?.message }, 'job attempt failed');
        throw error;
      }
    });
  }

  private async route(job: Job, token?: string): Promise<unknown> {
    try {
      switch (job.name) {
        case JobName.EmbedImage:
          return await this.services.ingest.process((job.data as EmbedImageJobData).imageId);
        case JobName.EmbedQuery:
          return await this.services.query.process((job.data as EmbedQueryJobData).objectKey);
        case JobName.ReembedImage: {
          const outcome = await this.services.reembed.process(job.data as ReembedImageJobData);
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
      // A picture that cannot be decoded will not decode on a retry. The cause keeps its class for the failure metrics.
      if (error instanceof InvalidImageError) throw Object.assign(new UnrecoverableError(error.message), { cause: error });
      throw error;
    }
  }

  private async onFailed(job: Job | undefined, error: Error): Promise<void> {
    if (!job || (job.name !== JobName.EmbedImage && job.name !== JobName.ReembedImage)) return;
    const final = error instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    const log = this.jobLog(job);
    log.warn({ error: error.message, attempt: job.attemptsMade }, final ? 'job failed' : 'job failed, will retry');
    if (!final) return;
    try {
      if (job.name === JobName.EmbedImage) await this.services.ingest.fail((job.data as EmbedImageJobData).imageId, error);
      else await this.services.reembed.fail(job.data as ReembedImageJobData, error);
    } catch (e) {
      log.warn({ error: (e as Error).message }, 'could not mark image failed');
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
    const timedOut = Symbol('timed out');
    const outcome = await Promise.race([
      this.worker.close(),
      new Promise((resolve) => setTimeout(() => resolve(timedOut), this.options.shutdownTimeoutMs).unref()),
    ]);
    if (outcome === timedOut) {
      // Their locks lapse and other workers take them up again (BullMQ's stalled-job check).
      this.options.log('shutdown timed out: jobs still running are left to other workers', { timeoutMs: this.options.shutdownTimeoutMs });
    }
  }
}
