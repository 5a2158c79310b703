import type { RgbImage } from '@lookalike/shared/domain/image';

/** ImageNet statistics used by keras.applications.densenet.preprocess_input ('torch' mode). */
export const IMAGENET_MEAN = Object.freeze([0.485, 0.456, 0.406] as const);
export const IMAGENET_STD = Object.freeze([0.229, 0.224, 0.225] as const);

/** Throws unless `image` is a well-formed RGB HWC buffer. */
export function assertRgbImage(image: RgbImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`Image size must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(`RGB image ${width}x${height} needs ${width * height * 3} bytes, got ${data.length}`);
  }
}

/**
 * Keras DenseNet `preprocess_input`: x/255, then (x - mean) / std per channel.
 * Writes into `out` at `offset` when given, so a whole batch can share one buffer.
 */
export function preprocessImage(image: RgbImage, out?: Float32Array, offset = 0): Float32Array {
  assertRgbImage(image);
  const { data } = image;
  const target = out ?? new Float32Array(data.length);
  if (target.length - offset < data.length) throw new Error('Output buffer too small for image');
  // Fold /255, -mean and /std into one multiply-add per value.
  const scale = IMAGENET_STD.map((s) => 1 / (255 * s));
  const shift = IMAGENET_MEAN.map((m, c) => -m / IMAGENET_STD[c]);
  for (let i = 0; i < data.length; i += 3) {
    target[offset + i] = data[i] * scale[0] + shift[0];
    target[offset + i + 1] = data[i + 1] * scale[1] + shift[1];
    target[offset + i + 2] = data[i + 2] * scale[2] + shift[2];
  }
  return target;
}

/**
 * A batch of size×size images, preprocessed into one NHWC buffer for one model call; an image of
 * another size is refused with the model's name.
 */
export function preprocessBatch(images: readonly RgbImage[], size: number, modelId: string): Float32Array {
  const pixels = new Float32Array(images.length * size * size * 3);
  images.forEach((image, i) => {
    if (image.width !== size || image.height !== size) {
      throw new Error(`Model ${modelId} takes ${size}x${size} images, got ${image.width}x${image.height}`);
    }
    preprocessImage(image, pixels, i * size * size * 3);
  });
  return pixels;
}
