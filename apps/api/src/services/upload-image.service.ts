import { createHash } from 'node:crypto';
import { InvalidInputError } from '@lookalike/shared/domain/errors';
import type { ImageRecord, Metadata } from '@lookalike/shared/domain/image';
import { deleteImageRow } from './image.service.js';
import type { ImageCodec, ImageRepository, JobQueue, ObjectStore } from '@lookalike/shared/ports';

export interface UploadLimits {
  maxBytes: number;
  maxPixels: number;
}

export interface UploadRequest {
  bytes: Buffer;
  collection: string;
  label: string | null;
  metadata: Metadata | null;
}

const NAME = /^[\p{L}\p{N}][\p{L}\p{N} ._:/-]{0,127}$/u;

export function validateCollection(collection: string): string {
  if (!NAME.test(collection)) {
    throw new InvalidInputError(
      `Invalid collection "${collection}": use 1 to 128 letters, digits, spaces or . _ : / - (starting with a letter or digit).`,
    );
  }
  return collection;
}

/** Content-addressed: the same bytes are stored once, however many rows point at them. */
export function objectKeyFor(sha256: string): string {
  return `originals/${sha256.slice(0, 2)}/${sha256}`;
}

/** The upload use case: check everything first, then keep object, row and job, or none of them. */
export class UploadImageService {
  constructor(
    private readonly deps: { images: ImageRepository; objects: ObjectStore; codec: ImageCodec; queue: JobQueue; limits: UploadLimits },
  ) {}

  async upload(request: UploadRequest): Promise<ImageRecord> {
    const { images, objects, codec, queue, limits } = this.deps;
    const collection = validateCollection(request.collection);
    const label = request.label === null ? null : request.label.trim();
    if (label !== null && (label.length === 0 || label.length > 200)) {
      throw new InvalidInputError('A label must have 1 to 200 characters (leave it out for an unlabelled image).');
    }
    if (request.metadata !== null && (typeof request.metadata !== 'object' || Array.isArray(request.metadata))) {
      throw new InvalidInputError('metadata must be a JSON object.');
    }
    if (request.bytes.length > limits.maxBytes) {
      throw new InvalidInputError(`The file is larger than the ${limits.maxBytes} byte upload limit.`);
    }
    const info = await codec.inspect(request.bytes, { maxPixels: limits.maxPixels });
    const sha256 = createHash('sha256').update(request.bytes).digest('hex');
    const objectKey = objectKeyFor(sha256);
    let record: ImageRecord | null = null;
    try {
      // The row first, then the object: from the moment the row is in, no delete of another row
      // sharing these bytes removes the object (both sides hold the key's lock), so whether it is
      // there can be asked once, now. Asked before, a delete could remove it in between.
      record = await images.create({
        collection,
        label,
        width: info.width,
        height: info.height,
        contentType: info.contentType,
        sha256,
        objectKey,
        sizeBytes: request.bytes.length,
        metadata: request.metadata,
      });
      if (!(await objects.exists(objectKey))) await objects.put(objectKey, request.bytes, info.contentType);
      await queue.enqueueEmbedImage({ v: 1, imageId: record.id });
      return record;
    } catch (error) {
      // Undo what this request kept, so a failed upload leaves no row and no orphan object.
      if (record) await deleteImageRow(this.deps, record.id, objectKey).catch(() => {});
      throw error;
    }
  }
}
