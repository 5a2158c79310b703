import type { Config } from '@lookalike/shared/config';
import type { Infrastructure } from '@lookalike/shared/infrastructure';
import type { Embedder } from '@lookalike/shared/ports';
import { EmbedImageService, EmbedQueryService } from './embed-image.service.js';
import { EmbedWorker } from './embed-worker.js';

export type LogFn = (msg: string, extra?: Record<string, unknown>) => void;

/** Wires the worker: announces its model, prepares the model's HNSW index, then takes jobs. */
export async function startWorker(config: Config, infra: Infrastructure, embedder: Embedder, log: LogFn): Promise<EmbedWorker> {
  await infra.vectors.prepare(embedder.info.id, embedder.info.dimension);
  await infra.models.activate(embedder.info);
  const deps = {
    images: infra.images,
    vectors: infra.vectors,
    classifications: infra.classifications,
    objects: infra.objects,
    codec: infra.codec,
    embedder,
    events: infra.events,
    k: config.KNN_K,
    maxPixels: config.MAX_IMAGE_PIXELS,
  };
  const worker = new EmbedWorker(infra.blockingRedis(), new EmbedImageService(deps), new EmbedQueryService(deps), {
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    log,
  });
  worker.start();
  await worker.waitUntilReady();
  return worker;
}
