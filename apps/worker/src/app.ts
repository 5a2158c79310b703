import type { Config } from '@lookalike/shared/config';
import type { Infrastructure } from '@lookalike/shared/infrastructure';
import type { Embedder, ModelRole } from '@lookalike/shared/ports';
import { BullmqJobQueue } from '@lookalike/shared/queue/bullmq-job-queue';
import { BatchingEmbedder } from './batching-embedder.js';
import { EmbedImageService, EmbedQueryService } from './embed-image.service.js';
import { EmbedWorker } from './embed-worker.js';
import { ReembedCoordinator, ReembedImageService } from './reembed.service.js';

export type LogFn = (msg: string, extra?: Record<string, unknown>) => void;

export interface RunningWorker {
  batcher: BatchingEmbedder;
  /** Jobs BullMQ reported stalled (lock lost) in this worker. */
  stalled: string[];
  /** `pending`: this worker's model is being filled in and goes live when every image is done. */
  role: ModelRole;
  coordinator: ReembedCoordinator;
  close(): Promise<void>;
}

/** Wires the worker: prepares its model's HNSW index, registers the model (maybe starting a switch), then takes jobs. */
export async function startWorker(config: Config, infra: Infrastructure, model: Embedder, log: LogFn): Promise<RunningWorker> {
  await infra.vectors.prepare(model.info.id, model.info.dimension);
  // Concurrent jobs each embed one image; the batcher makes few model calls of them. The caller closes `model`.
  const embedder = new BatchingEmbedder(model, { maxBatch: config.EMBED_BATCH, maxWaitMs: config.EMBED_BATCH_WAIT_MS });
  const queue = new BullmqJobQueue(infra.producerRedis, infra.blockingRedis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
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
  });
  const role = await coordinator.start();
  const worker = new EmbedWorker(
    infra.blockingRedis(),
    { ingest, query: new EmbedQueryService(deps), reembed: new ReembedImageService({ ...deps, ingest }) },
    {
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      lockDurationMs: config.WORKER_LOCK_MS,
      shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
      log,
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
    async close() {
      await coordinator.stop();
      await worker.close();
      await queue.close();
    },
  };
}
