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
  delete(id: string): Promise<void>;
  /** How many rows still point at an object (content-addressed objects are shared). */
  countByObjectKey(objectKey: string): Promise<number>;
}

export interface NearestQuery {
  vector: Float32Array;
  model: string;
  k: number;
  collection?: string;
  excludeImageId?: string;
  labelledOnly?: boolean;
}

export interface VectorIndex {
  upsert(imageId: string, model: string, vector: Float32Array): Promise<void>;
  get(imageId: string, model: string): Promise<Float32Array | null>;
  /** Nearest first, by cosine distance, answered through the HNSW index. */
  nearest(query: NearestQuery): Promise<NeighborHit[]>;
}

export interface ClassificationRepository {
  save(result: ClassificationRecord): Promise<void>;
  findByImageId(imageId: string): Promise<ClassificationRecord | null>;
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
  embed(images: readonly RgbImage[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export interface ClassificationEvent {
  imageId: string;
  collection: string;
}

export interface EventBus {
  publishClassificationReady(event: ClassificationEvent): Promise<void>;
  subscribeClassificationReady(): AsyncIterableIterator<ClassificationEvent>;
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

export interface JobQueue {
  enqueueEmbedImage(payload: EmbedImagePayload): Promise<void>;
  /** Enqueues a high-priority job and waits for the worker's vector. */
  embedQueryImage(payload: EmbedQueryPayload, timeoutMs: number): Promise<{ vector: Float32Array; model: string }>;
  close(): Promise<void>;
}
