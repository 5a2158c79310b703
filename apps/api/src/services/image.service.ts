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
    await this.deps.images.delete(id);
    if ((await this.deps.images.countByObjectKey(image.objectKey)) === 0) await this.deps.objects.delete(image.objectKey);
  }
}
