/**
 * A plain RGB raster to compose the CLI's pictures (contact sheet, confusion matrix): rectangles,
 * pictures decoded by sharp, and text in the built-in 5×7 font, then encoded as PNG by sharp.
 */
import sharp from 'sharp';
import { canRender, dot, GLYPH_HEIGHT, GLYPH_WIDTH } from './font5x7.js';

export type Rgb = readonly [number, number, number];

export const WHITE: Rgb = [255, 255, 255];
export const BLACK: Rgb = [0, 0, 0];

/** Width in pixels of `text` at `scale` (one dot of spacing between characters). */
export function textWidth(text: string, scale = 1): number {
  const n = [...text].length;
  return n === 0 ? 0 : (n * (GLYPH_WIDTH + 1) - 1) * scale;
}

export function textHeight(scale = 1): number {
  return GLYPH_HEIGHT * scale;
}

/** `text` cut to fit `maxWidth` pixels at `scale`, ending in ".." when cut. */
export function fitText(text: string, maxWidth: number, scale = 1): string {
  const chars = [...text];
  if (textWidth(text, scale) <= maxWidth) return text;
  const max = Math.floor((maxWidth / scale + 1) / (GLYPH_WIDTH + 1));
  if (max <= 2) return chars.slice(0, Math.max(0, max)).join('');
  return `${chars.slice(0, max - 2).join('')}..`;
}

export class Canvas {
  readonly data: Buffer;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = WHITE,
  ) {
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`bad canvas size ${width}x${height}`);
    this.data = Buffer.alloc(width * height * 3);
    this.fill(0, 0, width, height, background);
  }

  set(x: number, y: number, [r, g, b]: Rgb): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.data[i] = r;
    this.data[i + 1] = g;
    this.data[i + 2] = b;
  }

  get(x: number, y: number): Rgb {
    const i = (y * this.width + x) * 3;
    return [this.data[i], this.data[i + 1], this.data[i + 2]];
  }

  fill(x: number, y: number, w: number, h: number, colour: Rgb): void {
    for (let yy = Math.max(0, y); yy < Math.min(this.height, y + h); yy++) {
      for (let xx = Math.max(0, x); xx < Math.min(this.width, x + w); xx++) this.set(xx, yy, colour);
    }
  }

  /** A one-pixel (or `thickness`) rectangle outline. */
  frame(x: number, y: number, w: number, h: number, colour: Rgb, thickness = 1): void {
    this.fill(x, y, w, thickness, colour);
    this.fill(x, y + h - thickness, w, thickness, colour);
    this.fill(x, y, thickness, h, colour);
    this.fill(x + w - thickness, y, thickness, h, colour);
  }

  /** Draws text with its top-left corner at (x, y); characters the font lacks show as "?". */
  text(x: number, y: number, text: string, colour: Rgb = BLACK, scale = 1): void {
    let cx = x;
    for (const ch of text) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
          if (dot(ch, gx, gy)) this.fill(cx + gx * scale, y + gy * scale, scale, scale, colour);
        }
      }
      cx += (GLYPH_WIDTH + 1) * scale;
    }
  }

  /** Text turned 90° counter-clockwise (read bottom to top), its baseline side at x, starting at yBottom. */
  textUp(x: number, yBottom: number, text: string, colour: Rgb = BLACK, scale = 1): void {
    let cy = yBottom;
    for (const ch of text) {
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
          if (dot(ch, gx, gy)) this.fill(x + gy * scale, cy - (gx + 1) * scale, scale, scale, colour);
        }
      }
      cy -= (GLYPH_WIDTH + 1) * scale;
    }
  }

  /** Text centred horizontally in [x, x + w), cut to fit. */
  textCentred(x: number, w: number, y: number, text: string, colour: Rgb = BLACK, scale = 1): void {
    const fitted = fitText(text, w, scale);
    this.text(x + Math.floor((w - textWidth(fitted, scale)) / 2), y, fitted, colour, scale);
  }

  /**
   * Like textCentred, but text the 5×7 font lacks (non-ASCII labels) is rendered by sharp with a
   * system font when the machine has pango and fonts; else it falls back to the built-in font.
   */
  async anyTextCentred(x: number, w: number, y: number, text: string, colour: Rgb = BLACK, scale = 1): Promise<void> {
    if (!canRender(text)) {
      const ink = await systemText(text, textHeight(scale) + 2 * scale).catch(() => null);
      if (ink && ink.width > 0) {
        const width = Math.min(ink.width, w);
        const left = x + Math.floor((w - width) / 2);
        for (let yy = 0; yy < ink.height; yy++) {
          for (let xx = 0; xx < width; xx++) {
            const a = ink.data[yy * ink.width + xx] / 255;
            if (a <= 0) continue;
            const [r, g, b] = this.get(Math.min(this.width - 1, left + xx), Math.min(this.height - 1, y + yy));
            this.set(left + xx, y + yy, [r + (colour[0] - r) * a, g + (colour[1] - g) * a, b + (colour[2] - b) * a].map(Math.round) as unknown as Rgb);
          }
        }
        return;
      }
    }
    this.textCentred(x, w, y, text, colour, scale);
  }

  /** Copies raw RGB pixels (w × h, 3 channels) with their top-left corner at (x, y). */
  blit(x: number, y: number, rgb: Uint8Array, w: number, h: number): void {
    for (let yy = 0; yy < h; yy++) {
      for (let xx = 0; xx < w; xx++) {
        const s = (yy * w + xx) * 3;
        this.set(x + xx, y + yy, [rgb[s], rgb[s + 1], rgb[s + 2]]);
      }
    }
  }

  png(): Promise<Buffer> {
    return sharp(this.data, { raw: { width: this.width, height: this.height, channels: 3 } }).png().toBuffer();
  }
}

/** One-channel ink (255 = ink) of `text` in a system font about `height` pixels high; throws without pango. */
async function systemText(text: string, height: number): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp({ text: { text: escapeMarkup(text), font: `sans ${Math.max(6, Math.round(height * 0.75))}`, dpi: 72 } })
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (data.every((v) => v === 0)) throw new Error('no ink');
  return { data, width: info.width, height: info.height };
}

function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Decodes a picture (any format sharp reads; EXIF orientation applied) to raw RGB fitted inside a
 * size × size square on `background`, centred.
 */
export async function tile(bytes: Uint8Array, size: number, background: Rgb = [235, 235, 235]): Promise<Buffer> {
  const [r, g, b] = background;
  return sharp(bytes)
    .rotate()
    .flatten({ background: { r, g, b } })
    .resize(size, size, { fit: 'contain', background: { r, g, b } })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer();
}
