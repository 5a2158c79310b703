import type { Config } from '@lookalike/shared/config';
import type { Infrastructure } from '@lookalike/shared/infrastructure';
import { BullmqJobQueue } from '@lookalike/shared/queue/bullmq-job-queue';
import { type ApiServer, startApiServer } from './server.js';
import { ClassifyService } from './services/classify.service.js';
import { EvaluationService } from './services/evaluation.service.js';
import { ImageService } from './services/image.service.js';
import { ReembedService } from './services/reembed.service.js';
import { SearchService } from './services/search.service.js';
import { UploadImageService } from './services/upload-image.service.js';

/** Wires the API's use cases to the adapters and starts serving. */
export async function startApi(config: Config, infra: Infrastructure): Promise<ApiServer & { close(): Promise<void> }> {
  const queue = new BullmqJobQueue(infra.producerRedis, infra.blockingRedis, {
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
  });
  const limits = { maxBytes: config.MAX_UPLOAD_BYTES, maxPixels: config.MAX_IMAGE_PIXELS };
  const activeModel = () => infra.models.active();
  const prepared = new Set<string>();
  const searchModel = async () => {
    const model = await activeModel();
    if (!model) return null;
    if (!prepared.has(model.id)) {
      await infra.vectors.prepare(model.id, model.dimension);
      prepared.add(model.id);
    }
    return model.id;
  };
  const search = new SearchService({
    images: infra.images,
    vectors: infra.vectors,
    objects: infra.objects,
    codec: infra.codec,
    queue,
    limits,
    queryTimeoutMs: config.QUERY_TIMEOUT_MS,
    model: searchModel,
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
        model: searchModel,
      }),
      activeModel,
      maxUploadBytes: config.MAX_UPLOAD_BYTES,
      publicUrl: config.publicUrl,
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
    },
  );
  return {
    ...server,
    async close() {
      await server.stop();
      await queue.close();
    },
  };
}
