import { randomUUID } from 'node:crypto';
import { InvalidInputError, NotFoundError, UnavailableError } from '@lookalike/shared/domain/errors';
import type { NeighborHit } from '@lookalike/shared/domain/image';
import type { ImageCodec, ImageRepository, JobQueue, MetadataFilter, ModelRegistry, ObjectStore, VectorIndex } from '@lookalike/shared/ports';
import type { UploadLimits } from './upload-image.service.js';

export const MAX_K = 100;

/** Query jobs a search sends before it refuses an answer from a retired model's worker. */
export const QUERY_EMBED_ATTEMPTS = 2;

export function validateK(k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new InvalidInputError(`k must be a whole number from 1 to ${MAX_K}, got ${k}.`);
  return k;
}

/** Where searches get their model from. */
export type SearchModel = (options?: { fresh?: boolean }) => Promise<string | null>;

/**
 * The active model, its index prepared. Remembered between searches: a stored-vector search checks
 * in SQL that its model is still the active one and asks for a fresh read when it is not.
 */
export function activeSearchModel(models: Pick<ModelRegistry, 'active'>, vectors: { prepare(model: string, dimension: number): Promise<void> }): SearchModel {
  const prepared = new Set<string>();
  let last: string | null = null;
  return async (options) => {
    if (last && !options?.fresh) return last;
    const model = await models.active();
    if (!model) return null;
    if (!prepared.has(model.id)) {
      await vectors.prepare(model.id, model.dimension);
      prepared.add(model.id);
    }
    last = model.id;
    return model.id;
  };
}

/** Similar images, by a stored image's vector or by a query image a worker embeds. */
export class SearchService {
  constructor(
    private readonly deps: {
      images: ImageRepository;
      vectors: VectorIndex;
      objects: ObjectStore;
      codec: ImageCodec;
      queue: JobQueue;
      limits: UploadLimits;
      queryTimeoutMs: number;
      /** The model whose vectors are searched (the active one); may be the last one seen unless `fresh`. */
      model: SearchModel;
      /** Where the model that embedded a query picture stands. */
      models: Pick<ModelRegistry, 'state'>;
    },
  ) {}

  /**
   * The fast path is one statement (the vector, the model check and the scan together) with the
   * model last seen; when it answers nothing, the model is read afresh and the reason found.
   */
  async byImageId(imageId: string, k: number, collection?: string, where?: MetadataFilter): Promise<NeighborHit[]> {
    validateK(k);
    const search = (model: string) => this.deps.vectors.nearestToStored({ imageId, model, k, collection, where });
    const known = await this.deps.model();
    const hits = known ? await search(known) : null;
    if (hits) return hits;
    const image = await this.deps.images.findById(imageId);
    if (!image) throw new NotFoundError(`No image with id ${imageId}.`);
    // The active model may have changed since it was last read (a switch): ask once more with it.
    const model = await this.deps.model({ fresh: true });
    const again = model && model !== known ? await search(model) : null;
    if (again) return again;
    throw new InvalidInputError(`Image ${imageId} has no vector yet (status ${image.status}); try again when it is READY.`);
  }

  async byUpload(bytes: Buffer, k: number, collection?: string, where?: MetadataFilter): Promise<NeighborHit[]> {
    validateK(k);
    const { vector, model } = await this.embedUpload(bytes);
    return this.deps.vectors.nearest({ vector, model, k, collection, where });
  }

  /**
   * A worker embeds the picture (the model lives there) and hands back the vector; nothing is kept.
   * Any worker may take the job. The vector of the active model, or of a pending one (during a
   * switch the new model's workers answer, against its vectors made so far), is searched; one of a
   * retired model (workers still running after a cancelled or completed switch) would be compared
   * with vectors on their way out: the job is sent again, and after that the search is refused.
   */
  async embedUpload(bytes: Buffer): Promise<{ vector: Float32Array; model: string }> {
    const { objects, codec, queue, limits, models } = this.deps;
    if (bytes.length > limits.maxBytes) throw new InvalidInputError(`The file is larger than the ${limits.maxBytes} byte upload limit.`);
    const info = await codec.inspect(bytes, { maxPixels: limits.maxPixels });
    // The model lives in the workers: hand them the image through the store, keep nothing after.
    const objectKey = `queries/${randomUUID()}`;
    await objects.put(objectKey, bytes, info.contentType);
    try {
      let answered: { vector: Float32Array; model: string } | undefined;
      for (let attempt = 0; attempt < QUERY_EMBED_ATTEMPTS; attempt++) {
        answered = await queue.embedQueryImage({ v: 1, objectKey }, this.deps.queryTimeoutMs);
        // Read each time: the model this process last saw active may have retired since.
        const state = await models.state(answered.model);
        if (state === 'active' || state === 'pending') return answered;
      }
      const active = await this.deps.model({ fresh: true });
      throw new UnavailableError(
        `The query image was embedded by a worker of model ${answered!.model}, which is retired${active ? ` (the active model is ${active})` : ''}: ` +
          'its workers should be stopped. Try again; a worker of the active model will answer.',
      );
    } finally {
      await objects.delete(objectKey).catch(() => {});
    }
  }
}

/** A metadata filter from a client: an object of at most 16 keys with string, number or boolean values. */
export function validateWhere(where: unknown): MetadataFilter | undefined {
  if (where === undefined || where === null) return undefined;
  if (typeof where !== 'object' || Array.isArray(where)) throw new InvalidInputError('where must be an object such as {"part": "bolt"}.');
  const entries = Object.entries(where);
  if (entries.length > 16) throw new InvalidInputError('where takes at most 16 keys.');
  for (const [key, value] of entries) {
    if (!['string', 'number', 'boolean'].includes(typeof value)) {
      throw new InvalidInputError(`where.${key} must be a string, number or boolean, got ${JSON.stringify(value)}.`);
    }
  }
  return where as MetadataFilter;
}
