import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { PromMetrics } from '@lookalike/shared/adapters/prom-metrics';
import type { Config } from '@lookalike/shared/config';
import type { Infrastructure } from '@lookalike/shared/infrastructure';
import { createLogger, type Logger } from '@lookalike/shared/logger';
import { BullmqJobQueue } from '@lookalike/shared/queue/bullmq-job-queue';
import { QueueName } from '@lookalike/shared/queue/names';
import { type ApiServer, startApiServer } from './server.js';
import { ClassifyService } from './services/classify.service.js';
import { EvaluationService } from './services/evaluation.service.js';
import { ImageService } from './services/image.service.js';
import { ReembedService } from './services/reembed.service.js';
import { activeSearchModel, SearchService } from './services/search.service.js';
import { UploadImageService } from './services/upload-image.service.js';

export interface ApiOptions {
  /** Request lines; a logger named `api` at LOG_LEVEL when left out. */
  log?: Logger;
  /** The process's registry; one of the API's own when left out. */
  metrics?: PromMetrics;
}

/** Wires the API's use cases to the adapters and starts serving. */
export async function startApi(
  config: Config,
  infra: Infrastructure,
  options: ApiOptions = {},
): Promise<ApiServer & { metrics: PromMetrics; close(): Promise<void> }> {
  const log = options.log ?? createLogger('api', config.LOG_LEVEL);
  const metrics = options.metrics ?? new PromMetrics();
  const queue = new BullmqJobQueue(infra.producerRedis, infra.blockingRedis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
  const unwatchQueue = metrics.watchQueue(QueueName.Images, () => queue.jobCounts());
  const limits = { maxBytes: config.MAX_UPLOAD_BYTES, maxPixels: config.MAX_IMAGE_PIXELS };
  const activeModel = () => infra.models.active();
  const searchModel = activeSearchModel(infra.models, infra.vectors);
  const search = new SearchService({
    images: infra.images,
    vectors: infra.vectors,
    objects: infra.objects,
    codec: infra.codec,
    queue,
    limits,
    queryTimeoutMs: config.QUERY_TIMEOUT_MS,
    model: searchModel,
    models: infra.models,
  });
  const server = await startApiServer(
    {
      images: infra.images,
      classifications: infra.classifications,
      events: infra.events,
      upload: new UploadImageService({ images: infra.images, objects: infra.objects, codec: infra.codec, queue, limits }),
      search,
      reembed: new ReembedService({ reembeddings: infra.reembeddings, models: infra.models, queue, events: infra.events, activeModel }),
      classify: new ClassifyService({ search, vectors: infra.vectors }),
      imageAdmin: new ImageService({ images: infra.images, objects: infra.objects }),
      evaluation: new EvaluationService({
        images: infra.images,
        vectors: infra.vectors,
        objects: infra.objects,
        codec: infra.codec,
        maxPixels: config.MAX_IMAGE_PIXELS,
        // An evaluation reads vectors without the search's active-model check: read the model afresh.
        model: () => searchModel({ fresh: true }),
      }),
      activeModel,
      maxUploadBytes: config.MAX_UPLOAD_BYTES,
      publicUrl: config.publicUrl,
      metrics,
    },
    {
      host: config.HOST,
      port: config.PORT,
      isReady: async () => (await infra.producerRedis.ping()) === 'PONG' && (await activeModel()) !== null,
      readOriginal: async (id) => {
        const image = await infra.images.findById(id);
        if (!image) return null;
        return { bytes: await infra.objects.get(image.objectKey), contentType: image.contentType ?? 'application/octet-stream' };
      },
      log,
      metrics: config.METRICS ? metrics : undefined,
      dashboard: config.BULL_BOARD ? { path: config.BULL_BOARD_PATH, handler: bullBoard(config.BULL_BOARD_PATH, queue) } : undefined,
      // The shutdown's budget, less a little for closing the queue and the connections after.
      drainMs: Math.max(1000, config.SHUTDOWN_TIMEOUT_MS - 2000),
    },
  );
  return {
    ...server,
    metrics,
    async close() {
      await server.stop();
      unwatchQueue();
      await queue.close();
    },
  };
}

/**
 * Bull Board, the BullMQ job dashboard (BULL_BOARD=true): jobs by state, their data and errors,
 * retry, promote, clean. It has NO auth of its own and can change the queue: put it behind your
 * ingress's auth (or keep it off, the default).
 */
function bullBoard(basePath: string, queue: BullmqJobQueue) {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(basePath);
  createBullBoard({ queues: [new BullMQAdapter(queue.bullQueue)], serverAdapter });
  return serverAdapter.getRouter();
}
