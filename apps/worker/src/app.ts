import { PromMetrics } from '@lookalike/shared/adapters/prom-metrics';
import type { Config } from '@lookalike/shared/config';
import type { Infrastructure } from '@lookalike/shared/infrastructure';
import type { Logger } from '@lookalike/shared/logger';
import type { Embedder, ModelRole } from '@lookalike/shared/ports';
import { BullmqJobQueue } from '@lookalike/shared/queue/bullmq-job-queue';
import { QueueName } from '@lookalike/shared/queue/names';
import { currentContext } from '@lookalike/shared/request-context';
import { BatchingEmbedder } from './batching-embedder.js';
import { EmbedImageService, EmbedQueryService } from './embed-image.service.js';
import { EmbedWorker } from './embed-worker.js';
import { ReembedCoordinator, ReembedImageService } from './reembed.service.js';

export type LogFn = (msg: string, extra?: Record<string, unknown>) => void;

export interface WorkerOptions {
  /** The process's registry (GET /metrics on the worker's http server); one of its own when left out. */
  metrics?: PromMetrics;
  /** Job lines go to children of it bound to jobId, job and requestId; left out, they go to `log`. */
  logger?: Logger;
}

export interface RunningWorker {
  batcher: BatchingEmbedder;
  /** Jobs BullMQ reported stalled (lock lost) in this worker. */
  stalled: string[];
  /** `pending`: this worker's model is being filled in and goes live when every image is done. */
  role: ModelRole;
  coordinator: ReembedCoordinator;
  metrics: PromMetrics;
  close(): Promise<void>;
}

/** Jobs held at once: as configured, else two batches per model host (one computing, one filling). */
export function workerConcurrency(config: Pick<Config, 'WORKER_CONCURRENCY' | 'EMBED_BATCH'>, model: Pick<Embedder, 'parallelism'>): number {
  return config.WORKER_CONCURRENCY ?? 2 * config.EMBED_BATCH * Math.max(1, model.parallelism ?? 1);
}

/** Wires the worker: prepares its model's HNSW index, registers the model (maybe starting a switch), then takes jobs. */
export async function startWorker(
  config: Config,
  infra: Infrastructure,
  model: Embedder,
  baseLog: LogFn,
  options: WorkerOptions = {},
): Promise<RunningWorker> {
  const metrics = options.metrics ?? new PromMetrics();
  // Lines logged while a job runs carry its jobId and requestId.
  const log: LogFn = (msg, extra) => {
    const context = Object.fromEntries(Object.entries(currentContext() ?? {}).filter(([, v]) => v !== undefined));
    baseLog(msg, Object.keys(context).length > 0 ? { ...context, ...extra } : extra);
  };
  await infra.vectors.prepare(model.info.id, model.info.dimension);
  // Concurrent jobs each embed one image; the batcher makes few model calls of them. The caller closes `model`.
  const embedder = new BatchingEmbedder(model, { maxBatch: config.EMBED_BATCH, maxWaitMs: config.EMBED_BATCH_WAIT_MS, metrics });
  const queue = new BullmqJobQueue(infra.producerRedis, infra.blockingRedis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
  const unwatchQueue = metrics.watchQueue(QueueName.Images, () => queue.jobCounts());
  const deps = {
    images: infra.images,
    vectors: infra.vectors,
    classifications: infra.classifications,
    objects: infra.objects,
    codec: infra.codec,
    embedder,
    events: infra.events,
    models: infra.models,
    reembeddings: infra.reembeddings,
    k: config.KNN_K,
    maxPixels: config.MAX_IMAGE_PIXELS,
    log,
  };
  const ingest = new EmbedImageService(deps);
  const coordinator = new ReembedCoordinator({
    ...deps,
    model: embedder.info,
    queue,
    retiredGraceMs: config.RETIRED_VECTORS_GRACE_MS,
    staleImageMs: config.STALE_IMAGE_MS,
    // A little under the interval, so that some worker's next tick always finds the lease free.
    fleetChecksEveryMs: Math.floor(config.REEMBED_SWEEP_MS * 0.9),
  });
  const role = await coordinator.start();
  const worker = new EmbedWorker(
    infra.blockingRedis(),
    { ingest, query: new EmbedQueryService(deps), reembed: new ReembedImageService({ ...deps, ingest }) },
    {
      prefix: config.QUEUE_PREFIX,
      concurrency: workerConcurrency(config, model),
      lockDurationMs: config.WORKER_LOCK_MS,
      shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
      log,
      logger: options.logger,
      metrics,
    },
  );
  worker.start();
  await worker.waitUntilReady();
  coordinator.startTimer(config.REEMBED_SWEEP_MS, (error) => log('re-embedding sweep failed', { error: error.message }));
  return {
    batcher: embedder,
    stalled: worker.stalled,
    role,
    coordinator,
    metrics,
    async close() {
      // Together: BullMQ stops taking jobs at once instead of after the sweep under way.
      await Promise.all([coordinator.stop(), worker.close()]);
      unwatchQueue();
      await queue.close();
    },
  };
}
