import type {
  ClassificationRecord,
  ImageInfo,
  ImageRecord,
  ImageStatus,
  Metadata,
  NeighborHit,
  NewImage,
  RgbImage,
} from './domain/image.js';

export interface ImageListFilter {
  collection?: string;
  label?: string;
  /** Hex digest of the original's bytes: "is this file stored already?" */
  sha256?: string;
}

export interface ImagePage {
  images: ImageRecord[];
  hasNextPage: boolean;
  totalCount: number;
}

export interface ImageRepository {
  create(image: NewImage): Promise<ImageRecord>;
  findById(id: string): Promise<ImageRecord | null>;
  findByIds(ids: readonly string[]): Promise<ImageRecord[]>;
  /** Keyset pagination, newest first; `after` is the id of the last image of the previous page. */
  list(filter: ImageListFilter, first: number, after?: string): Promise<ImagePage>;
  setStatus(id: string, status: ImageStatus, error?: string | null): Promise<void>;
  /** Marks the image PROCESSING and returns it, in one statement; null: no such image (deleted while queued). */
  claim(id: string): Promise<ImageRecord | null>;
  /** QUEUED or PROCESSING, untouched for `olderThanMs`: maybe their job was lost. */
  findStale(olderThanMs: number, limit: number): Promise<string[]>;
  /** Also relabels the image's vectors, so the next classification sees the new label. Null: no such image. */
  setLabel(id: string, label: string | null): Promise<ImageRecord | null>;
  delete(id: string): Promise<void>;
  /** How many rows still point at an object (content-addressed objects are shared). */
  countByObjectKey(objectKey: string): Promise<number>;
  /**
   * Runs `fn` holding a lock on one object key, across processes, in one transaction: the last
   * row's delete and its object's removal on one side, and an identical upload making sure the
   * object it shares is still there on the other, never interleave. `fn` gets the repository
   * bound to that transaction (use it, not this one, inside); it should hold the lock for an
   * object-store call or two, not more.
   */
  withObjectKeyLock<R>(objectKey: string, fn: (locked: ObjectKeyReferences) => Promise<R>): Promise<R>;
}

/** What may be done to an object key's rows while its lock is held. */
export type ObjectKeyReferences = Pick<ImageRepository, 'delete' | 'countByObjectKey'>;

export interface NearestQuery {
  vector: Float32Array;
  model: string;
  k: number;
  collection?: string;
  excludeImageId?: string;
  labelledOnly?: boolean;
  /** Only neighbours whose metadata contains these values (`part = rec.part`). */
  where?: MetadataFilter;
}

/** Neighbours of a stored image, by its own vector (the image itself left out). */
export interface StoredNearestQuery {
  imageId: string;
  model: string;
  k: number;
  /** Default: the image's own collection. */
  collection?: string;
  where?: MetadataFilter;
}

/** Equality on top-level metadata keys. */
export type MetadataFilter = Record<string, string | number | boolean>;

export interface VectorIndex {
  upsert(imageId: string, model: string, vector: Float32Array): Promise<void>;
  get(imageId: string, model: string): Promise<Float32Array | null>;
  /** Nearest first, by cosine distance, answered through the HNSW index. */
  nearest(query: NearestQuery): Promise<NeighborHit[]>;
  /**
   * `nearest` for a stored image's vector in one statement. Null when the image has no vector of
   * `model` or `model` is not the active model (any more): the caller finds out which.
   */
  nearestToStored(query: StoredNearestQuery): Promise<NeighborHit[] | null>;
}

export interface ClassificationRepository {
  /**
   * Saves the result and sets the image's final status in one statement: a READY image always has
   * its classification, and a worker dying between the two cannot leave one without the other.
   * Returns the image row as updated; fails for an image that no longer exists.
   */
  complete(result: ClassificationRecord, status: 'READY' | 'FAILED', error?: string | null): Promise<ImageRecord>;
  findByImageId(imageId: string): Promise<ClassificationRecord | null>;
  /**
   * Results saved at or after `since` (by the clocks of the processes that saved them), oldest
   * first, each with its image row; of one collection, or of all. Keyset pages: `after` is the
   * last one of the previous page.
   */
  savedSince(query: SavedSinceQuery): Promise<Array<{ classification: ClassificationRecord; image: ImageRecord }>>;
}

export interface SavedSinceQuery {
  since: Date;
  collection?: string;
  after?: { createdAt: Date; imageId: string };
  limit: number;
}

export interface ObjectStore {
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** Checks and decodes image bytes. Implemented with sharp; nothing above the adapter imports it. */
export interface ImageCodec {
  /**
   * Reads the format from the bytes (never the client's content type), the size from the header,
   * refuses images over `maxPixels` before decoding, then decodes once to prove the bytes are whole.
   * Throws InvalidImageError with a message a person understands.
   */
  inspect(bytes: Buffer, limits: { maxPixels: number }): Promise<ImageInfo>;
  /** EXIF orientation applied, any colour model to 8-bit RGB, resized to size×size. */
  toRgb(bytes: Buffer, size: number, options?: { maxPixels?: number } & Partial<Preprocessing>): Promise<RgbImage>;
}

/** How a picture becomes the model's input; part of the model id, since it moves the vectors. */
export interface Preprocessing {
  resize: 'bilinear' | 'nearest';
  crop: 'none' | 'center';
}

export interface ModelInfo {
  /** e.g. `densenet121:random-seed-1`. Vectors of different ids are never compared. */
  id: string;
  dimension: number;
  inputSize: number;
  pretrained: boolean;
  weightsSource: string;
  runtime: string;
  preprocessing: Preprocessing;
}

/** Turns decoded images into L2-normalised vectors. Runs off the caller's event loop. */
export interface Embedder {
  readonly info: ModelInfo;
  /** Calls it can run at once (model hosts); 1 when left out. */
  readonly parallelism?: number;
  embed(images: readonly RgbImage[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export type ReembeddingState = 'RUNNING' | 'COMPLETE' | 'SUPERSEDED' | 'CANCELLED';

/** Every image of a collection (or all of them, on a model switch) embedded again by `model`. */
export interface Reembedding {
  id: string;
  model: string;
  /** The model that `model` replaces once every image is done; null when the model stays. */
  replaces: string | null;
  collection: string | null;
  state: ReembeddingState;
  total: number;
  done: number;
  failed: number;
  startedAt: Date;
  finishedAt: Date | null;
}

/** What a worker's model is for: serving (`active`), or being filled in before a switch (`pending`). */
export type ModelRole = { role: 'active' } | { role: 'pending'; reembeddingId: string };

/** Where a model stands in the registry: serving, being filled in before a switch, or replaced. */
export type ModelState = 'active' | 'pending' | 'retired';

/**
 * Which model's vectors are live. One model is active; a worker with another model makes it
 * pending and starts a re-embedding; completing that switches the two atomically.
 */
export interface ModelRegistry {
  /**
   * A worker's model at start-up. The first model becomes active; with no live vectors to replace,
   * a new one becomes active at once; otherwise it becomes pending and a re-embedding of every live
   * image starts (or the one already running for it is resumed; an older pending model is dropped).
   */
  register(info: ModelInfo): Promise<ModelRole>;
  active(): Promise<ModelInfo | null>;
  /** Where a model stands: `active`, `pending` (a switch to it is under way), `retired`, or null when never registered. */
  state(modelId: string): Promise<ModelState | null>;
  /** Finishes a re-embedding with nothing left to do; for a model switch, switches. False: not yet, or done already. */
  complete(reembeddingId: string): Promise<boolean>;
  /**
   * Stops a RUNNING re-embedding (CANCELLED). For a model switch its pending model retires, so the
   * active one stays and the new vectors go after the grace period: a rollback. False: it was not
   * running (any more).
   */
  cancel(reembeddingId: string): Promise<boolean>;
  /** Deletes the vectors and index of models retired longer ago than `graceMs`; returns their ids. */
  purgeRetired(graceMs: number): Promise<string[]>;
}

export interface ReembeddingRepository {
  /** A re-embedding of one collection with the model that stays (no switch). */
  startForCollection(collection: string, model: string): Promise<Reembedding>;
  get(id: string): Promise<Reembedding | null>;
  /** The running one (newest first), or else the newest finished one. */
  latest(): Promise<Reembedding | null>;
  running(model: string): Promise<Reembedding[]>;
  /** One indexed read, for a job to ask whether its re-embedding still wants it. */
  isRunning(id: string): Promise<boolean>;
  /** Images still to do, labelled ones first (they are the neighbours that classify). */
  pendingImageIds(reembeddingId: string, limit: number): Promise<string[]>;
  hasPending(reembeddingId: string): Promise<boolean>;
  markItem(reembeddingId: string, imageId: string, state: 'DONE' | 'FAILED', error?: string): Promise<void>;
  /** READY images with no vector of `model` that no running re-embedding covers (left behind by a worker of another model). */
  imagesMissingVectors(model: string, limit: number): Promise<string[]>;
  /** True for one caller per `everyMs` across every process: that one runs the check `name`. */
  claimSweep(name: string, everyMs: number): Promise<boolean>;
}

export interface ClassificationEvent {
  imageId: string;
  collection: string;
  /**
   * The result and the image row as the worker's final statement left them. Subscribers deliver
   * these instead of reading both back (two queries per event on every API replica). Absent in
   * events from workers that predate it: subscribers then read the database.
   */
  result?: { classification: ClassificationRecord; image: ImageRecord };
}

export interface ReembeddingEvent {
  reembeddingId: string;
}

/**
 * In a subscription's stream after the bus lost its connection and subscribed again: events
 * published in between are gone (pub/sub delivers at most once), so read again what matters.
 */
export interface SubscriptionGap {
  readonly gap: true;
}

export const SUBSCRIPTION_GAP: SubscriptionGap = Object.freeze({ gap: true });

export function isGap(item: object): item is SubscriptionGap {
  return (item as Partial<SubscriptionGap>).gap === true;
}

export interface EventBus {
  publishClassificationReady(event: ClassificationEvent): Promise<void>;
  /**
   * Resolves once subscribed: every event published after that is delivered, so a caller may
   * subscribe, read the current state, then iterate, and miss nothing; after a lost connection a
   * SubscriptionGap says where events may be missing. return() unsubscribes.
   */
  subscribeClassificationReady(): Promise<AsyncIterableIterator<ClassificationEvent | SubscriptionGap>>;
  publishReembeddingProgress(event: ReembeddingEvent): Promise<void>;
  /** As subscribeClassificationReady. */
  subscribeReembeddingProgress(): Promise<AsyncIterableIterator<ReembeddingEvent | SubscriptionGap>>;
  close(): Promise<void>;
}

export type { Metadata };

/** Versioned job payloads: a job enqueued by an older API must still be understood. */
export interface EmbedImagePayload {
  v: 1;
  imageId: string;
}

export interface EmbedQueryPayload {
  v: 1;
  /** The query image lies in the object store under this key while the job runs. */
  objectKey: string;
}

export interface ReembedImagePayload {
  v: 1;
  imageId: string;
  /** Only a worker running this model may do it. */
  model: string;
  /** The re-embedding it belongs to; null when a sweep found the image without a vector. */
  reembeddingId: string | null;
}

export interface JobQueue {
  enqueueEmbedImage(payload: EmbedImagePayload): Promise<void>;
  /** Enqueues the image's job again unless it is waiting, delayed or running; true when it did. */
  requeueEmbedImage(payload: EmbedImagePayload): Promise<boolean>;
  /** Idempotent per re-embedding and image: enqueueing the same image twice makes one job. */
  enqueueReembedImages(payloads: readonly ReembedImagePayload[]): Promise<void>;
  /** Enqueues a high-priority job and waits for the worker's vector. */
  embedQueryImage(payload: EmbedQueryPayload, timeoutMs: number): Promise<{ vector: Float32Array; model: string }>;
  close(): Promise<void>;
}
