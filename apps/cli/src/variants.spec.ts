import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { contrastingColour, VARIANTS } from './variants.js';

const picture = async (alpha = false) => {
  const width = 80;
  const height = 40;
  const channels = alpha ? 4 : 3;
  const data = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      // Left half dark, right half light; a transparent band at the top when alpha.
      data.fill(x < width / 2 ? 40 : 200, i, i + 3);
      if (alpha) data[i + 3] = y < 10 ? 0 : 255;
    }
  }
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
};

const raw = async (bytes: Buffer) => sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });

test('every variant of the robustness report, with the size and pixels it should have', async () => {
  const original = await picture();
  const out = Object.fromEntries(await Promise.all(VARIANTS.map(async (v) => [v.name, await raw(await v.apply(original))] as const)));
  assert.deepEqual(Object.keys(out), ['resize-50', 'crop-80', 'rotate-15', 'flip-h', 'brightness+30', 'brightness-30', 'background']);
  const size = (name: string) => [out[name].info.width, out[name].info.height];
  const at = (name: string, x: number, y: number) => out[name].data[(y * out[name].info.width + x) * 3];
  assert.deepEqual(size('resize-50'), [40, 20]);
  assert.deepEqual(size('crop-80'), [64, 32]);
  assert.ok(size('rotate-15')[0] > 80 && size('rotate-15')[1] > 40, 'rotation grows the canvas');
  assert.deepEqual(size('flip-h'), [80, 40]);
  assert.ok(at('flip-h', 5, 20) > 150 && at('flip-h', 75, 20) < 80, 'mirrored');
  assert.ok(at('brightness+30', 75, 20) > 220 && at('brightness-30', 75, 20) < 170, 'brighter and darker');
  assert.deepEqual(size('background'), [80, 40]);
  const corner = [...out.background.data.subarray(0, 3)];
  const bg = await contrastingColour(original);
  assert.deepEqual(corner, [bg.r, bg.g, bg.b], 'a border of another colour');
  assert.ok(at('background', 20, 20) < 80 && at('background', 60, 20) > 150, 'the picture inside');
});

test('background change fills transparent parts when there are some', async () => {
  const original = await picture(true);
  const v = VARIANTS.find((x) => x.name === 'background')!;
  const { data, info } = await raw(await v.apply(original));
  assert.deepEqual([info.width, info.height], [80, 40]);
  const bg = await contrastingColour(original);
  assert.deepEqual([...data.subarray(0, 3)], [bg.r, bg.g, bg.b]);
  assert.equal(data[(20 * 80 + 5) * 3], 40, 'opaque pixels stay');
});
