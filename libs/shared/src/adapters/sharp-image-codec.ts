/**
 * ImageCodec on sharp (libvips). All decoding runs on libuv's thread pool through sharp's async
 * API; nothing here blocks the event loop beyond parsing a few header bytes.
 */
import sharp from 'sharp';
import type { ImageInfo, RgbImage } from '../domain/image.js';
import { InvalidImageError } from '../domain/errors.js';
import type { ImageCodec } from '../ports.js';

/** How strict decoding is. See SharpImageCodecOptions.failOn. */
export type DecodeStrictness = 'truncated' | 'error' | 'warning';

export interface SharpImageCodecOptions {
  /**
   * sharp's `failOn` for every decode. 'error' (the default) refuses truncated files and data the
   * decoders call errors (bad PNG/zlib CRCs, broken TIFF strips, corrupt AVIF frames, truncated
   * JPEG/PNG/GIF) but accepts JPEGs whose libjpeg *warnings* (e.g. "Corrupt JPEG data: N extraneous
   * bytes before marker") browsers shrug off. 'warning' (sharp's own default) refuses those too.
   */
  failOn?: DecodeStrictness;
}

/** Formats we accept, keyed by sharp's metadata `format` (HEIF is split by compression below). */
const CONTENT_TYPES = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  tiff: 'image/tiff',
  avif: 'image/avif',
} as const;

export type SupportedImageFormat = keyof typeof CONTENT_TYPES;

const AVIF_DECODES = sharp.format.heif?.input?.buffer === true;

/** Human-readable list for messages, e.g. "JPEG, PNG, WebP, GIF, TIFF, AVIF". */
export const SUPPORTED_FORMATS_TEXT = ['JPEG', 'PNG', 'WebP', 'GIF', 'TIFF', ...(AVIF_DECODES ? ['AVIF'] : [])].join(', ');

/** Content types of the formats this codec decodes. */
export const SUPPORTED_CONTENT_TYPES: readonly string[] = Object.entries(CONTENT_TYPES)
  .filter(([format]) => format !== 'avif' || AVIF_DECODES)
  .map(([, contentType]) => contentType);

/** Side of the thumbnail `inspect` decodes to: every byte of the file is read, few are kept. */
const INSPECT_SIZE = 32;

const unsupported = (what: string): InvalidImageError =>
  new InvalidImageError(`${what} Supported formats: ${SUPPORTED_FORMATS_TEXT}.`, { supportedFormats: SUPPORTED_FORMATS_TEXT });

const fmt = (n: number): string => n.toLocaleString('en-US');

interface Header {
  format: SupportedImageFormat;
  /** As stored, before EXIF orientation. */
  width: number;
  height: number;
  orientation: number;
}

/** Names some formats sharp cannot read, from their magic bytes, for a better message. */
function sniffUnsupported(bytes: Buffer): string | null {
  const ascii = (start: number, end: number) => bytes.subarray(start, end).toString('latin1');
  if (bytes.length >= 18 && ascii(0, 2) === 'BM' && [12, 40, 52, 56, 64, 108, 124].includes(bytes.readUInt32LE(14))) {
    return 'BMP images are not supported (the image decoder has no BMP support); convert it to PNG or JPEG.';
  }
  if (ascii(0, 5) === '%PDF-') return 'PDF documents are not images; upload a picture.';
  if (ascii(0, 4) === '8BPS') return 'Photoshop (PSD) files are not supported; export it as PNG or JPEG.';
  if ((bytes[0] === 0xff && bytes[1] === 0x0a) || ascii(4, 8) === 'JXL ') return 'JPEG XL images are not supported.';
  if (bytes.length >= 6 && bytes.readUInt16LE(0) === 0 && bytes.readUInt16LE(2) === 1 && bytes.readUInt16LE(4) > 0) {
    return 'ICO icon files are not supported.';
  }
  return null;
}

/** Names a supported format from its magic bytes, for files sharp could not even open. */
function sniffSupported(bytes: Buffer): string | null {
  const ascii = (start: number, end: number) => bytes.subarray(start, end).toString('latin1');
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'JPEG';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'PNG';
  if (ascii(0, 6) === 'GIF87a' || ascii(0, 6) === 'GIF89a') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'TIFF';
  if (ascii(4, 8) === 'ftyp') return ascii(8, 12).startsWith('avi') ? 'AVIF' : 'HEIF';
  return null;
}

/** Turns a decoder's message into a sentence fragment a person can read (the raw text goes in details). */
function decoderReason(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/bad seek/.test(l) && !/^\(\d+\.\d+\)$/.test(l));
  let reason = lines[lines.length - 1] ?? '';
  const prefix = /^(Input buffer has corrupt header|VipsJpeg|VipsForeignLoad\w*|\w+load(?:_buffer|_source)?|tiff2vips|heif|webp|gif):\s*/i;
  while (prefix.test(reason)) reason = reason.replace(prefix, '');
  reason = reason.replace(/\s*\(\d+\.\d+\)\s*$/, '').replace(/[.\s]+$/, '').trim();
  return reason || 'the decoder gave no reason';
}

function validateMaxPixels(maxPixels: number | undefined): number | true {
  if (maxPixels === undefined) return true; // sharp's default limit, 0x3FFF × 0x3FFF
  if (!(maxPixels >= 1)) throw new RangeError(`maxPixels must be a positive number, got ${maxPixels}`);
  return Number.isFinite(maxPixels) ? Math.floor(maxPixels) : true;
}

export class SharpImageCodec implements ImageCodec {
  private readonly failOn: DecodeStrictness;

  constructor(options: SharpImageCodecOptions = {}) {
    this.failOn = options.failOn ?? 'error';
  }

  async inspect(bytes: Buffer, limits: { maxPixels: number }): Promise<ImageInfo> {
    const limit = validateMaxPixels(limits.maxPixels);
    const header = await this.readHeader(bytes, limit);
    // Decode every byte once, into a thumbnail, so truncated or corrupt files are refused now and
    // not when a worker gets to them. JPEG and WebP decode at reduced scale but still read all data.
    await this.decode(header, () =>
      sharp(bytes, { failOn: this.failOn, limitInputPixels: limit, sequentialRead: true })
        .resize(INSPECT_SIZE, INSPECT_SIZE, { fit: 'inside', withoutEnlargement: true })
        .raw()
        .toBuffer(),
    );
    const swap = header.orientation >= 5 && header.orientation <= 8;
    return {
      format: header.format,
      contentType: CONTENT_TYPES[header.format],
      width: swap ? header.height : header.width,
      height: swap ? header.width : header.height,
    };
  }

  /**
   * EXIF orientation applied; alpha composited onto white and dropped; grayscale, palette, CMYK
   * (through sharp's CMYK profile, or the embedded one) and 16-bit turned into 8-bit sRGB; then
   * stretched (no crop, no padding) to size×size with an antialiasing triangle filter ('bilinear')
   * or nearest neighbour. Only the first frame of animated or multi-page images is used.
   */
  async toRgb(
    bytes: Buffer,
    size: number,
    options: { resize?: 'bilinear' | 'nearest'; crop?: 'none' | 'center'; maxPixels?: number } = {},
  ): Promise<RgbImage> {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
    const limit = validateMaxPixels(options.maxPixels);
    const kernel = (options.resize ?? 'bilinear') === 'nearest' ? 'nearest' : 'linear';
    const header = await this.readHeader(bytes, limit);
    const { data, info } = await this.decode(header, () =>
      sharp(bytes, { failOn: this.failOn, limitInputPixels: limit })
        .autoOrient()
        .flatten({ background: { r: 255, g: 255, b: 255 } })
        .removeAlpha()
        .toColourspace('srgb')
        // 'center': the largest centred square, then resize (no distortion); 'none': stretch to fit.
        .resize(size, size, { fit: options.crop === 'center' ? 'cover' : 'fill', position: 'centre', kernel, fastShrinkOnLoad: false })
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true }),
    );
    if (info.channels !== 3 || info.width !== size || info.height !== size || data.length !== size * size * 3) {
      throw new Error(`sharp returned ${info.width}x${info.height}x${info.channels} (${data.length} bytes), expected ${size}x${size}x3`);
    }
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: size, height: size };
  }

  /** Format and size from the header only; refuses what we cannot or will not decode. */
  private async readHeader(bytes: Buffer, limit: number | true): Promise<Header> {
    if (bytes.length === 0) throw new InvalidImageError('The file is empty.');
    let meta: sharp.Metadata;
    try {
      // No pixel limit here: metadata reads the header only, and we want the dimensions for the message.
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const known = sniffUnsupported(bytes);
      if (known) throw unsupported(known);
      const looksLike = sniffSupported(bytes);
      if (looksLike) {
        throw new InvalidImageError(
          `The file looks like a ${looksLike} image but is damaged (truncated or corrupt) and cannot be read` +
            (/unsupported image format/i.test(message) ? '.' : `: ${decoderReason(message)}.`),
          { decoderMessage: message },
        );
      }
      if (/unsupported image format/i.test(message)) {
        throw unsupported('The file is not a supported image (its bytes match no known image format).');
      }
      throw new InvalidImageError(`The image header is corrupt and cannot be read: ${decoderReason(message)}.`, {
        decoderMessage: message,
      });
    }
    let format: SupportedImageFormat;
    if (meta.format === 'heif') {
      if (meta.compression !== 'av1' || !AVIF_DECODES) {
        throw unsupported(`HEIF/HEIC images${meta.compression ? ` compressed with ${meta.compression.toUpperCase()}` : ''} are not supported.`);
      }
      format = 'avif';
    } else if (meta.format in CONTENT_TYPES && meta.format !== 'avif') {
      format = meta.format as SupportedImageFormat;
    } else if (meta.format === 'svg') {
      throw unsupported('SVG drawings are not supported; upload a raster image.');
    } else {
      throw unsupported(`${String(meta.format).toUpperCase()} images are not supported.`);
    }
    const { width, height } = meta;
    if (!(width > 0 && height > 0)) throw new InvalidImageError('The image header declares no width or height.');
    if (limit !== true && width * height > limit) {
      throw new InvalidImageError(
        `The image is ${width}x${height} pixels (${fmt(width * height)} pixels), over the limit of ${fmt(limit)} pixels.`,
        { width, height, maxPixels: limit },
      );
    }
    return { format, width, height, orientation: meta.orientation ?? 1 };
  }

  private async decode<T>(header: Header, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const name = header.format === 'avif' ? 'AVIF' : header.format.toUpperCase();
      if (/exceeds pixel limit/i.test(message)) {
        throw new InvalidImageError(`The image is ${header.width}x${header.height} pixels, over the pixel limit.`, {
          width: header.width,
          height: header.height,
          decoderMessage: message,
        });
      }
      const truncated = /premature end of (jpeg|input)|unexpected end|end of (file|stream)|truncated/i.test(message);
      throw new InvalidImageError(
        `The ${name} image is ${truncated ? 'truncated (the file ends before the picture does)' : 'damaged (truncated or corrupt)'} ` +
          `and cannot be decoded: ${decoderReason(message)}.`,
        { format: header.format, decoderMessage: message },
      );
    }
  }
}
