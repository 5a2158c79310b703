import { InvalidImageError } from '@lookalike/shared/domain/errors';
import type { ClassificationRecord } from '@lookalike/shared/domain/image';
import { knnVote } from '@lookalike/shared/domain/knn';
import type {
  ClassificationRepository,
  Embedder,
  EventBus,
  ImageCodec,
  ImageRepository,
  ObjectStore,
  VectorIndex,
} from '@lookalike/shared/ports';

export interface EmbedImageDeps {
  images: ImageRepository;
  vectors: VectorIndex;
  classifications: ClassificationRepository;
  objects: ObjectStore;
  codec: ImageCodec;
  embedder: Embedder;
  events: EventBus;
  k: number;
  maxPixels: number;
}

/** The ingest use case: decode → embed → store the vector → classify by kNN → publish. */
export class EmbedImageService {
  constructor(private readonly deps: EmbedImageDeps) {}

  /** Returns false when the image no longer exists (deleted while queued): nothing to do. */
  async process(imageId: string): Promise<boolean> {
    const { images, vectors, classifications, objects, codec, embedder, events, k, maxPixels } = this.deps;
    const image = await images.claim(imageId);
    if (!image) return false;
    const bytes = await objects.get(image.objectKey);
    const rgb = await codec.toRgb(bytes, embedder.info.inputSize, { ...embedder.info.preprocessing, maxPixels });
    const [vector] = await embedder.embed([rgb]);
    const model = embedder.info.id;
    await vectors.upsert(imageId, model, vector);
    const neighbors = await vectors.nearest({
      vector,
      model,
      k,
      collection: image.collection,
      excludeImageId: imageId,
      labelledOnly: true,
    });
    const classification: ClassificationRecord = { imageId, ...knnVote(neighbors), neighbors, model, createdAt: new Date() };
    // The event carries what was saved, so subscribers need not read it back.
    const stored = await classifications.complete(classification, 'READY');
    await events.publishClassificationReady({ imageId, collection: image.collection, result: { classification, image: stored } });
    return true;
  }

  /** Final failure: the image is FAILED with a reason, subscribers hear of it. */
  async fail(imageId: string, error: unknown): Promise<void> {
    const image = await this.deps.images.findById(imageId);
    if (!image) return;
    const message = error instanceof InvalidImageError ? error.message : `Processing failed: ${(error as Error).message}`;
    const failed: ClassificationRecord = {
      imageId,
      label: null,
      confidence: 0,
      neighbors: [],
      model: this.deps.embedder.info.id,
      createdAt: new Date(),
    };
    const stored = await this.deps.classifications.complete(failed, 'FAILED', message);
    await this.deps.events.publishClassificationReady({ imageId, collection: image.collection, result: { classification: failed, image: stored } });
  }
}

/** The query use case: embed an image that is not stored and hand back its vector. */
export class EmbedQueryService {
  constructor(private readonly deps: Pick<EmbedImageDeps, 'objects' | 'codec' | 'embedder' | 'maxPixels'>) {}

  async process(objectKey: string): Promise<{ vector: number[]; model: string }> {
    const { objects, codec, embedder, maxPixels } = this.deps;
    const rgb = await codec.toRgb(await objects.get(objectKey), embedder.info.inputSize, { ...embedder.info.preprocessing, maxPixels });
    const [vector] = await embedder.embed([rgb]);
    return { vector: Array.from(vector), model: embedder.info.id };
  }
}
