import { InvalidInputError, NotFoundError } from '@lookalike/shared/domain/errors';
import type { ImageRecord } from '@lookalike/shared/domain/image';
import type { ImageRepository, ObjectStore } from '@lookalike/shared/ports';

/** Labels are free text a person reads; they only have to fit on a line. */
export function validateLabel(label: string | null): string | null {
  if (label === null) return null;
  if (label.trim() === '' || label.length > 256 || /[\n\r]/.test(label)) {
    throw new InvalidInputError('A label is 1 to 256 characters on one line (or null to remove it).');
  }
  return label;
}

/**
 * Deletes a row and, when no other row shares it, its original. Under the key's lock, so an
 * identical upload cannot start sharing the original between the count and its removal; a failed
 * removal rolls the row's delete back, so nothing is left half gone.
 */
export async function deleteImageRow(deps: { images: ImageRepository; objects: ObjectStore }, id: string, objectKey: string): Promise<void> {
  await deps.images.withObjectKeyLock(objectKey, async (locked) => {
    await locked.delete(id);
    if ((await locked.countByObjectKey(objectKey)) === 0) await deps.objects.delete(objectKey);
  });
}

/** Changing what is stored: relabel and delete. Both take effect on the next classification. */
export class ImageService {
  constructor(private readonly deps: { images: ImageRepository; objects: ObjectStore }) {}

  async setLabel(id: string, label: string | null): Promise<ImageRecord> {
    const updated = await this.deps.images.setLabel(id, validateLabel(label));
    if (!updated) throw new NotFoundError(`No image with id ${id}.`);
    return updated;
  }

  /** The row goes with its vectors and result (cascade); the original goes when no other row shares it. */
  async delete(id: string): Promise<void> {
    const image = await this.deps.images.findById(id);
    if (!image) throw new NotFoundError(`No image with id ${id}.`);
    await deleteImageRow(this.deps, id, image.objectKey);
  }
}
