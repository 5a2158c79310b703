import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { describe, it, before } from 'node:test';
import sharp from 'sharp';
import {
  badImages,
  distinctImage,
  goodImages,
  HUGE_PNG_SIDE,
  PICTURE_HEIGHT,
  PICTURE_WIDTH,
  uprightJpeg,
  type BadImageFixture,
  type BadImageName,
  type GoodImageFixture,
  type GoodImageName,
} from '../../../../test/fixtures/images.js';
import { InvalidImageError, InvalidInputError } from '../domain/errors.js';
import type { RgbImage } from '../domain/image.js';
import { SharpImageCodec, SUPPORTED_CONTENT_TYPES, SUPPORTED_FORMATS_TEXT } from './sharp-image-codec.js';

const MAX_PIXELS = 40_000_000;
const codec = new SharpImageCodec();

/** Mean absolute difference per byte between two RGB images of the same size. */
function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  assert.equal(a.data.length, b.data.length);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

/** Mean of each channel over a rectangle [x0, x1) × [y0, y1). */
function regionMean(img: RgbImage, x0: number, y0: number, x1: number, y1: number): [number, number, number] {
  const sum = [0, 0, 0];
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      for (let c = 0; c < 3; c++) sum[c] += img.data[(y * img.width + x) * 3 + c];
    }
  }
  const n = (x1 - x0) * (y1 - y0);
  return [sum[0] / n, sum[1] / n, sum[2] / n];
}

async function rejectsInvalidImage(promise: Promise<unknown>, ...patterns: RegExp[]): Promise<InvalidImageError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof InvalidImageError, `expected InvalidImageError, got ${String(caught)}`);
  assert.ok(caught instanceof InvalidInputError);
  for (const pattern of patterns) assert.match(caught.message, pattern);
  return caught;
}

describe('SharpImageCodec', () => {
  let good: Record<GoodImageName, GoodImageFixture>;
  let bad: Record<BadImageName, BadImageFixture>;
  let reference: RgbImage; // the lossless PNG of the upright picture, at 32×32

  before(async () => {
    good = await goodImages();
    bad = await badImages();
    reference = await codec.toRgb(good['png-rgb'].bytes, 32);
  });

  describe('good images', () => {
    const names: GoodImageName[] = [
      'jpeg-baseline',
      'jpeg-progressive',
      'jpeg-cmyk',
      'jpeg-grayscale',
      'jpeg-exif-orientation-6',
      'png-rgb',
      'png-palette',
      'png-16bit',
      'png-alpha',
      'png-1x1',
      'webp',
      'gif',
      'gif-animated',
      'tiff',
      'avif',
    ];

    for (const name of names) {
      it(`${name}: inspects to its real format and displayed dimensions`, async () => {
        const f = good[name];
        const info = await codec.inspect(f.bytes, { maxPixels: MAX_PIXELS });
        assert.deepEqual(info, { format: f.expectedFormat, contentType: f.contentType, width: f.width, height: f.height });
        assert.ok(SUPPORTED_CONTENT_TYPES.includes(info.contentType));
      });

      it(`${name}: decodes to size×size 8-bit RGB with either resize`, async () => {
        for (const resize of ['bilinear', 'nearest'] as const) {
          for (const size of [1, 7, 32, 224]) {
            const rgb = await codec.toRgb(good[name].bytes, size, { resize, maxPixels: MAX_PIXELS });
            assert.equal(rgb.width, size);
            assert.equal(rgb.height, size);
            assert.ok(rgb.data instanceof Uint8Array);
            assert.equal(rgb.data.length, size * size * 3);
          }
        }
      });
    }

    it('the upright picture has its bright square at the top-left (sanity check of the fixtures)', () => {
      const square = regionMean(reference, 0, 0, 6, 10); // 24/96 × 32 = 8 wide, 24/64 × 32 = 12 high
      assert.ok(square.every((v) => v > 240), `top-left ${square}`);
      const bottomRight = regionMean(reference, 26, 22, 32, 32);
      assert.ok(bottomRight.some((v) => v < 200), `bottom-right ${bottomRight}`);
    });

    it('applies EXIF orientation 6: same pixels as the upright original, within JPEG tolerance', async () => {
      const rotated = good['jpeg-exif-orientation-6'];
      const meta = await sharp(rotated.bytes).metadata();
      assert.equal(meta.orientation, 6, 'the orientation tag is really in the file');
      assert.deepEqual([meta.width, meta.height], [PICTURE_HEIGHT, PICTURE_WIDTH], 'pixels are stored rotated');

      const fromRotated = await codec.toRgb(rotated.bytes, 32);
      const fromUpright = await codec.toRgb(await uprightJpeg(), 32);
      const diff = meanAbsDiff(fromRotated, fromUpright);
      assert.ok(diff < 4, `mean abs diff ${diff}`);
      assert.ok(regionMean(fromRotated, 0, 0, 6, 10).every((v) => v > 235), 'bright square at top-left');
      assert.ok(meanAbsDiff(fromRotated, reference) < 4);

      // Without orientation the square would be at the bottom-left of the stored pixels.
      const ignored = await sharp(rotated.bytes).resize(32, 32, { fit: 'fill' }).raw().toBuffer();
      assert.ok(meanAbsDiff({ data: ignored, width: 32, height: 32 }, fromUpright) > 20);
    });

    it('every colour model gives the same picture as the lossless PNG', async () => {
      // Measured: JPEG ~1.4, CMYK ~6.4 (the sRGB->CMYK->sRGB round trip through sharp's CMYK profile
      // costs ~6.7 even losslessly, in TIFF), palette ~2.3, 16-bit ~0.5, WebP ~1.7, GIF ~0.3, AVIF ~0.8.
      const tolerance: Partial<Record<GoodImageName, number>> = {
        'jpeg-baseline': 3,
        'jpeg-progressive': 3,
        'jpeg-cmyk': 9,
        'png-palette': 4,
        'png-16bit': 1,
        webp: 3,
        gif: 2,
        'gif-animated': 2,
        tiff: 0,
        avif: 3,
      };
      for (const [name, max] of Object.entries(tolerance) as [GoodImageName, number][]) {
        const diff = meanAbsDiff(await codec.toRgb(good[name].bytes, 32), reference);
        assert.ok(diff <= max, `${name}: mean abs diff ${diff.toFixed(2)} > ${max}`);
      }
    });

    it('grayscale becomes three equal channels', async () => {
      const rgb = await codec.toRgb(good['jpeg-grayscale'].bytes, 32);
      for (let p = 0; p < 32 * 32; p++) {
        assert.equal(rgb.data[p * 3], rgb.data[p * 3 + 1]);
        assert.equal(rgb.data[p * 3], rgb.data[p * 3 + 2]);
      }
      assert.ok(regionMean(rgb, 0, 0, 6, 10)[0] > 240, 'bright square kept');
    });

    it('alpha is composited onto white, then dropped', async () => {
      const rgb = await codec.toRgb(good['png-alpha'].bytes, 32);
      // Left edge is opaque: same as the reference. Right edge is ~22% opaque: close to white.
      const left = meanAbsDiff(
        { data: rgb.data.filter((_, i) => Math.floor(i / 3) % 32 < 2), width: 2, height: 32 },
        { data: reference.data.filter((_, i) => Math.floor(i / 3) % 32 < 2), width: 2, height: 32 },
      );
      assert.ok(left < 6, `left edge diff ${left}`);
      const right = regionMean(rgb, 30, 0, 32, 32);
      const refRight = regionMean(reference, 30, 0, 32, 32);
      for (let c = 0; c < 3; c++) {
        assert.ok(right[c] > 200, `right edge ${right}`);
        assert.ok(right[c] >= refRight[c] - 1, 'lighter than the opaque picture');
      }
    });

    it('nearest keeps only colours of the source; bilinear blends', async () => {
      const palette = good['png-palette'].bytes;
      const source = await codec.toRgb(palette, 96); // width already 96: nearest keeps columns, scales rows
      const colours = new Set<number>();
      const { data, info } = await sharp(palette).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      assert.equal(info.channels, 3);
      for (let i = 0; i < data.length; i += 3) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      const colourSet = (img: RgbImage) => {
        const out = new Set<number>();
        for (let i = 0; i < img.data.length; i += 3) out.add((img.data[i] << 16) | (img.data[i + 1] << 8) | img.data[i + 2]);
        return out;
      };
      const nearest = colourSet(await codec.toRgb(palette, 20, { resize: 'nearest' }));
      for (const c of nearest) assert.ok(colours.has(c), `nearest produced a new colour ${c.toString(16)}`);
      const bilinear = colourSet(await codec.toRgb(palette, 20, { resize: 'bilinear' }));
      assert.ok([...bilinear].some((c) => !colours.has(c)), 'bilinear should blend colours');
      assert.equal(source.data.length, 96 * 96 * 3);
    });

    it('a 1×1 image inspects and stretches to any size', async () => {
      const f = good['png-1x1'];
      assert.deepEqual(await codec.inspect(f.bytes, { maxPixels: 1 }), { format: 'png', contentType: 'image/png', width: 1, height: 1 });
      const rgb = await codec.toRgb(f.bytes, 224);
      for (let p = 0; p < 224 * 224; p++) {
        assert.deepEqual([rgb.data[p * 3], rgb.data[p * 3 + 1], rgb.data[p * 3 + 2]], [200, 30, 90]);
      }
    });

    it('refuses an image over maxPixels, naming dimensions and limit; exactly at the limit passes', async () => {
      const f = good['jpeg-baseline'];
      await rejectsInvalidImage(codec.inspect(f.bytes, { maxPixels: 1000 }), /96x64/, /6,144 pixels/, /limit of 1,000 pixels/);
      await rejectsInvalidImage(codec.toRgb(f.bytes, 8, { maxPixels: 1000 }), /96x64/, /limit of 1,000/);
      assert.equal((await codec.inspect(f.bytes, { maxPixels: 96 * 64 })).width, 96);
      await codec.toRgb(f.bytes, 8, { maxPixels: 96 * 64 });
    });

    it('reads the format from the bytes, whatever the client said', async () => {
      const info = await codec.inspect(good.webp.bytes, { maxPixels: MAX_PIXELS });
      assert.equal(info.contentType, 'image/webp');
    });
  });

  describe('bad images', () => {
    it('empty buffer', async () => {
      const err = await rejectsInvalidImage(codec.inspect(bad.empty.bytes, { maxPixels: MAX_PIXELS }));
      assert.equal(err.message, 'The file is empty.');
      await rejectsInvalidImage(codec.toRgb(bad.empty.bytes, 8), /empty/);
    });

    for (const name of ['text', 'random-bytes'] as const) {
      it(`${name}: not a supported image, listing the formats`, async () => {
        await rejectsInvalidImage(
          codec.inspect(bad[name].bytes, { maxPixels: MAX_PIXELS }),
          /not a supported image/,
          /JPEG, PNG, WebP, GIF, TIFF/,
        );
        await rejectsInvalidImage(codec.toRgb(bad[name].bytes, 8), /not a supported image/);
      });
    }

    it('BMP: sharp 0.34 has no BMP decoder, so it is refused as unsupported, by name', async () => {
      assert.equal(bad.bmp.bytes.subarray(0, 2).toString('latin1'), 'BM');
      await assert.rejects(sharp(bad.bmp.bytes).metadata(), /unsupported image format/);
      await rejectsInvalidImage(codec.inspect(bad.bmp.bytes, { maxPixels: MAX_PIXELS }), /BMP/, /not supported/, /PNG/);
      await rejectsInvalidImage(codec.toRgb(bad.bmp.bytes, 8), /BMP/);
    });

    it('SVG: sharp could rasterise it, but it is refused', async () => {
      await rejectsInvalidImage(codec.inspect(bad.svg.bytes, { maxPixels: MAX_PIXELS }), /SVG/, /not supported/);
      await rejectsInvalidImage(codec.toRgb(bad.svg.bytes, 8), /SVG/);
    });

    it('truncated JPEG: header is fine, refused at upload by the full decode', async () => {
      const meta = await sharp(bad['jpeg-truncated'].bytes).metadata();
      assert.equal(meta.format, 'jpeg', 'the header alone looks fine');
      await rejectsInvalidImage(
        codec.inspect(bad['jpeg-truncated'].bytes, { maxPixels: MAX_PIXELS }),
        /JPEG image is truncated/,
        /premature end/i,
      );
      await rejectsInvalidImage(codec.toRgb(bad['jpeg-truncated'].bytes, 224), /truncated/);
    });

    it(`${HUGE_PNG_SIDE}x${HUGE_PNG_SIDE} PNG header: refused from the header, fast`, async () => {
      const bytes = bad['png-huge-header'].bytes;
      assert.ok(bytes.length < 10_000, `fixture is small (${bytes.length} bytes)`);
      const started = performance.now();
      await rejectsInvalidImage(
        codec.inspect(bytes, { maxPixels: MAX_PIXELS }),
        /20000x20000/,
        /400,000,000 pixels/,
        /limit of 40,000,000 pixels/,
      );
      await rejectsInvalidImage(codec.toRgb(bytes, 224, { maxPixels: MAX_PIXELS }), /20000x20000/);
      // Without maxPixels sharp's own limit (0x3FFF²) still stops it before decoding.
      await rejectsInvalidImage(codec.toRgb(bytes, 224), /20000x20000/, /pixel limit/);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
    });

    it('every supported format, cut to 60% of its bytes, is refused naming the format', async () => {
      const formats: [GoodImageName, RegExp][] = [
        ['jpeg-progressive', /JPEG/],
        ['png-rgb', /PNG/],
        ['webp', /WebP/],
        ['gif', /GIF/],
        ['tiff', /TIFF/],
        ['avif', /AVIF/],
      ];
      for (const [name, format] of formats) {
        const bytes = good[name].bytes;
        const cut = bytes.subarray(0, Math.floor(bytes.length * 0.6));
        const err = await rejectsInvalidImage(codec.inspect(cut, { maxPixels: MAX_PIXELS }), format, /truncated/);
        assert.doesNotMatch(err.message, /: \.$/, `${name}: empty reason in "${err.message}"`);
        await rejectsInvalidImage(codec.toRgb(cut, 16), format);
      }
    });

    it('a PNG with a corrupt middle is refused', async () => {
      const png = Buffer.from(good['png-rgb'].bytes);
      for (let i = Math.floor(png.length / 2); i < Math.floor(png.length / 2) + 32; i++) png[i] ^= 0x5a;
      await rejectsInvalidImage(codec.inspect(png, { maxPixels: MAX_PIXELS }), /PNG image is damaged/);
    });

    it('rejects bad arguments as programming errors, not as bad images', async () => {
      await assert.rejects(codec.toRgb(good['png-rgb'].bytes, 0), RangeError);
      await assert.rejects(codec.toRgb(good['png-rgb'].bytes, 2.5), RangeError);
      await assert.rejects(codec.inspect(good['png-rgb'].bytes, { maxPixels: 0 }), RangeError);
    });
  });

  it('lists the supported formats', () => {
    assert.match(SUPPORTED_FORMATS_TEXT, /^JPEG, PNG, WebP, GIF, TIFF/);
    assert.ok(SUPPORTED_CONTENT_TYPES.includes('image/jpeg'));
  });

  it('decodes off the event loop', async (t) => {
    const noise = { type: 'gaussian', mean: 128, sigma: 30 } as const;
    const big = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: '#808080', noise } })
      .jpeg()
      .toBuffer();
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    await Promise.all([codec.inspect(big, { maxPixels: MAX_PIXELS }), codec.toRgb(big, 224), codec.toRgb(big, 224, { resize: 'nearest' })]);
    delay.disable();
    const maxMs = delay.max / 1e6;
    t.diagnostic(`max event-loop delay while decoding three 12 MP JPEGs: ${maxMs.toFixed(1)} ms`);
    assert.ok(maxMs < 150, `event loop blocked for ${maxMs.toFixed(0)} ms`);
  });

  it('distinctImage: deterministic per seed, different across seeds', async () => {
    assert.deepEqual(await distinctImage(7), await distinctImage(7));
    const images = await Promise.all(Array.from({ length: 12 }, (_, seed) => distinctImage(seed)));
    const decoded = await Promise.all(images.map((png) => codec.toRgb(png, 32)));
    for (let a = 0; a < decoded.length; a++) {
      for (let b = a + 1; b < decoded.length; b++) {
        const diff = meanAbsDiff(decoded[a], decoded[b]);
        assert.ok(diff > 15, `seeds ${a} and ${b} look alike (mean abs diff ${diff.toFixed(1)})`);
      }
    }
    const info = await codec.inspect(await distinctImage(3, 100), { maxPixels: MAX_PIXELS });
    assert.deepEqual([info.width, info.height, info.format], [100, 100, 'png']);
  });
});
