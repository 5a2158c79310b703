/**
 * The edits a robustness report applies to a picture: resize, centre crop, rotation, flip,
 * brightness and background. Each returns a lossless PNG.
 */
import sharp from 'sharp';

export interface Variant {
  name: string;
  description: string;
  apply(bytes: Uint8Array): Promise<Buffer>;
}

/** A colour far from the picture's mean colour, for the background change. */
export async function contrastingColour(bytes: Uint8Array): Promise<{ r: number; g: number; b: number }> {
  const { channels } = await sharp(bytes).rotate().removeAlpha().toColourspace('srgb').stats();
  const mean = [0, 1, 2].map((c) => (channels[c] ?? channels[0]).mean);
  const [r, g, b] = mean.map((m) => (m > 127 ? 25 : 230));
  // A grey picture gets a saturated colour rather than its own inverse grey.
  return r === g && g === b ? { r: 230, g: 25, b: 200 } : { r, g, b };
}

async function size(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  const { info } = await sharp(bytes).rotate().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height };
}

const png = (s: sharp.Sharp) => s.png().toBuffer();
/** Upright (EXIF orientation applied) and in sRGB, so each edit acts on what a person sees. */
const upright = (bytes: Uint8Array) => sharp(bytes).rotate().toColourspace('srgb');

export const VARIANTS: Variant[] = [
  {
    name: 'resize-50',
    description: 'scaled to 50% of its width and height',
    async apply(bytes) {
      const { width } = await size(bytes);
      return png(upright(bytes).resize({ width: Math.max(1, Math.round(width / 2)) }));
    },
  },
  {
    name: 'crop-80',
    description: 'the centre 80% of its width and height',
    async apply(bytes) {
      const { width, height } = await size(bytes);
      const w = Math.max(1, Math.round(width * 0.8));
      const h = Math.max(1, Math.round(height * 0.8));
      return png(upright(bytes).extract({ left: Math.floor((width - w) / 2), top: Math.floor((height - h) / 2), width: w, height: h }));
    },
  },
  {
    name: 'rotate-15',
    description: 'rotated 15° clockwise (corners filled with black)',
    apply: (bytes) => png(upright(bytes).rotate(15, { background: { r: 0, g: 0, b: 0 } })),
  },
  {
    name: 'flip-h',
    description: 'mirrored left to right',
    apply: (bytes) => png(upright(bytes).flop()),
  },
  {
    name: 'brightness+30',
    description: 'brightness ×1.3',
    apply: (bytes) => png(upright(bytes).modulate({ brightness: 1.3 })),
  },
  {
    name: 'brightness-30',
    description: 'brightness ×0.7',
    apply: (bytes) => png(upright(bytes).modulate({ brightness: 0.7 })),
  },
  {
    name: 'background',
    description: 'on a different background colour (transparent parts filled; else shrunk to 80% on a border of it)',
    async apply(bytes) {
      const background = await contrastingColour(bytes);
      const meta = await sharp(bytes).metadata();
      if (meta.hasAlpha) return png(upright(bytes).flatten({ background }));
      const { width, height } = await size(bytes);
      const w = Math.max(1, Math.round(width * 0.8));
      const h = Math.max(1, Math.round(height * 0.8));
      const left = Math.floor((width - w) / 2);
      const top = Math.floor((height - h) / 2);
      const inner = await upright(bytes).resize(w, h, { fit: 'fill' }).toBuffer();
      return png(sharp(inner).extend({ left, right: width - w - left, top, bottom: height - h - top, background }));
    },
  },
];
