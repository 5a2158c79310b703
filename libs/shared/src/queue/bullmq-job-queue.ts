import { Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import type { QueueCounts } from '../metrics.js';
import type { JobQueue } from '../ports.js';
import { currentRequestId } from '../request-context.js';
import { JobName, JobPriority, QueueName } from './names.js';
import { type EmbedImageJobData, type EmbedQueryJobData, type ReembedImageJobData, withRequestId } from './payloads.js';

export interface JobQueueOptions {
  prefix: string;
  attempts: number;
  backoffMs: number;
}

export interface EmbedQueryResult {
  vector: number[];
  model: string;
}

/**
 * The API's side of the queue: enqueue embeds, and run query embeds as awaited high-priority jobs.
 * Jobs enqueued while serving a request carry its id (`requestId` in the job's data), so the
 * worker's log lines for the job can be joined to the request's.
 */
export class BullmqJobQueue implements JobQueue {
  private readonly queue: Queue;
  private queueEvents?: QueueEvents;

  constructor(
    private readonly producer: Redis,
    private readonly blockingConnection: () => Redis,
    private readonly options: JobQueueOptions,
  ) {
    this.queue = new Queue(QueueName.Images, { connection: producer, prefix: options.prefix });
  }

  /** The BullMQ queue itself, for the job dashboard. */
  get bullQueue(): Queue {
    return this.queue;
  }

  /** How many jobs are in each state now (queue depth metrics). */
  async jobCounts(): Promise<QueueCounts> {
    return this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed');
  }

  async enqueueEmbedImage(payload: EmbedImageJobData): Promise<void> {
    await this.queue.add(JobName.EmbedImage, withRequestId(payload, currentRequestId()), {
      // One job per image: a double enqueue (retry of a request, sweeper) is a no-op.
      jobId: embedJobId(payload.imageId),
      priority: JobPriority[JobName.EmbedImage],
      attempts: this.options.attempts,
      backoff: { type: 'exponential', delay: this.options.backoffMs },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    });
  }

  async requeueEmbedImage(payload: EmbedImageJobData): Promise<boolean> {
    const job = await this.queue.getJob(embedJobId(payload.imageId));
    if (job) {
      const state = await job.getState();
      if (['waiting', 'prioritized', 'delayed', 'active', 'waiting-children'].includes(state)) return false;
      // A finished job keeps its id for a while, and an add with that id would be a no-op.
      await job.remove();
    }
    await this.enqueueEmbedImage(payload);
    return true;
  }

  async enqueueReembedImages(payloads: readonly ReembedImageJobData[]): Promise<void> {
    const requestId = currentRequestId();
    // Chunks keep one Redis round trip from holding thousands of jobs.
    for (let i = 0; i < payloads.length; i += 500) {
      await this.queue.addBulk(
        payloads.slice(i, i + 500).map((payload) => ({
          name: JobName.ReembedImage,
          data: withRequestId(payload, requestId),
          opts: {
            jobId: reembedJobId(payload),
            priority: JobPriority[JobName.ReembedImage],
            attempts: this.options.attempts,
            backoff: { type: 'exponential', delay: this.options.backoffMs },
            // Gone once done, so a later re-embedding of the same image gets a job again.
            removeOnComplete: true,
            removeOnFail: { age: 3600 },
          },
        })),
      );
    }
  }

  async embedQueryImage(payload: EmbedQueryJobData, timeoutMs: number): Promise<{ vector: Float32Array; model: string }> {
    // QueueEvents holds a blocking XREAD; made on first use so processes that never search skip it.
    if (!this.queueEvents) {
      this.queueEvents = new QueueEvents(QueueName.Images, { connection: this.blockingConnection(), prefix: this.options.prefix });
      await this.queueEvents.waitUntilReady();
    }
    const job = await this.queue.add(JobName.EmbedQuery, withRequestId(payload, currentRequestId()), {
      priority: JobPriority[JobName.EmbedQuery],
      attempts: 2,
      backoff: { type: 'fixed', delay: 200 },
      removeOnComplete: { age: 60 },
      removeOnFail: { age: 3600 },
    });
    try {
      const result = (await job.waitUntilFinished(this.queueEvents, timeoutMs)) as EmbedQueryResult;
      return { vector: Float32Array.from(result.vector), model: result.model };
    } catch (error) {
      // Nobody waits for it any more: do not let it occupy a worker.
      await job.remove().catch(() => {});
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.queueEvents?.close();
    await this.queue.close();
  }
}

/** One job per re-embedding and image (BullMQ ids may not contain ':', which model ids do). */
export function reembedJobId(payload: ReembedImageJobData): string {
  const scope = payload.reembeddingId ?? createHash('sha256').update(payload.model).digest('hex').slice(0, 16);
  return `reembed-${scope}-${payload.imageId}`;
}

export function embedJobId(imageId: string): string {
  return `embed-${imageId}`;
}
