// Photo-like test images, generated (no data set needed): a two-colour gradient "sky and ground",
// soft coloured blobs with a fine texture, and sensor-like noise. Encoded as JPEG (quality 85) and
// PNG, at 640×480 they come out near the size of real camera thumbnails (JPEG ~60–100 KB, PNG
// ~0.5–0.7 MB), which is what decoding cost depends on.
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { mulberry32 as prng } from '@lookalike/shared/prng';

export interface BenchImageFile {
  file: string;
  format: 'jpeg' | 'png';
  bytes: number;
}

/** Raw RGB pixels of one photo-like picture. */
export function photoLike(seed: number, width: number, height: number): Buffer {
  const rnd = prng(seed * 7919 + 17);
  const px = Buffer.alloc(width * height * 3);
  const colour = () => [rnd() * 255, rnd() * 255, rnd() * 255];
  const top = colour();
  const bottom = colour();
  const horizon = height * (0.35 + 0.3 * rnd());
  for (let y = 0; y < height; y++) {
    const t = y < horizon ? (y / horizon) * 0.5 : 0.5 + ((y - horizon) / (height - horizon)) * 0.5;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const shade = 0.9 + 0.1 * Math.sin((x + seed * 13) / 37);
      for (let c = 0; c < 3; c++) px[i + c] = (top[c] * (1 - t) + bottom[c] * t) * shade;
    }
  }
  // A few large objects, then many small details (leaves, pebbles, text…): edges are what JPEG pays for.
  const large = 6 + Math.floor(rnd() * 6);
  const small = 500 + Math.floor(rnd() * 300);
  for (let b = 0; b < large + small; b++) {
    const cx = rnd() * width;
    const cy = rnd() * height;
    const rx = b < large ? 20 + rnd() * width * 0.25 : 2 + rnd() * 10;
    const ry = b < large ? 20 + rnd() * height * 0.25 : 2 + rnd() * 10;
    const col = colour();
    const freq = 0.05 + rnd() * 0.4;
    const x0 = Math.max(0, Math.floor(cx - rx));
    const x1 = Math.min(width, Math.ceil(cx + rx));
    const y0 = Math.max(0, Math.floor(cy - ry));
    const y1 = Math.min(height, Math.ceil(cy + ry));
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const d = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2;
        if (d >= 1) continue;
        // Soft edge, and a texture (fabric, foliage…) inside the object.
        const alpha = Math.min(1, (1 - d) * 3);
        const tex = 0.8 + 0.2 * Math.sin(x * freq) * Math.cos(y * freq * 1.3);
        const i = (y * width + x) * 3;
        for (let c = 0; c < 3; c++) px[i + c] = px[i + c] * (1 - alpha) + col[c] * tex * alpha;
      }
    }
  }
  for (let i = 0; i < px.length; i++) px[i] = Math.max(0, Math.min(255, px[i] + (rnd() - 0.5) * 6));
  return px;
}

/**
 * Writes `count` distinct images into `dir` (every 4th a PNG, the rest JPEG) and lists them.
 * The same seed gives the same files, so every configuration decodes the same bytes.
 */
export async function writeBenchImages(dir: string, count: number, width = 640, height = 480): Promise<BenchImageFile[]> {
  await fs.mkdir(dir, { recursive: true });
  const files: BenchImageFile[] = [];
  for (let i = 0; i < count; i++) {
    const raw = photoLike(i + 1, width, height);
    const format = i % 4 === 3 ? 'png' : 'jpeg';
    const img = sharp(raw, { raw: { width, height, channels: 3 } });
    const bytes = format === 'png' ? await img.png().toBuffer() : await img.jpeg({ quality: 85 }).toBuffer();
    const file = path.join(dir, `${String(i).padStart(4, '0')}.${format === 'png' ? 'png' : 'jpg'}`);
    await fs.writeFile(file, bytes);
    files.push({ file, format, bytes: bytes.length });
  }
  return files;
}
