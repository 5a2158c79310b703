// Golden: fixed image bytes → decode (sharp) → resize → Keras DenseNet preprocess_input ('torch').
// Expected numbers are written out by hand: (v/255 − mean_c) / std_c with ImageNet mean/std.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SharpImageCodec } from '@lookalike/shared/adapters/sharp-image-codec';
import sharp from 'sharp';
import { withPreprocessing } from './model-id.js';
import { preprocessImage } from './preprocess.js';

const codec = new SharpImageCodec();

/** A lossless PNG from raw RGB rows. */
function png(width: number, height: number, rgb: number[]): Promise<Buffer> {
  return sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } }).png().toBuffer();
}

function close(actual: Float32Array, expected: number[], tolerance = 1e-5): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i] - e) < tolerance, `index ${i}: ${actual[i]} vs ${e}`));
}

test('a 2×2 PNG at size 2 gives the hand-computed tensor (HWC, RGB)', async () => {
  // red, green / blue, white
  const bytes = await png(2, 2, [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const tensor = preprocessImage(await codec.toRgb(bytes, 2));
  // channel c at 0: (0 − mean)/std = R −2.1179039, G −2.0357143, B −1.8044444
  // channel c at 255: (1 − mean)/std = R 2.2489083, G 2.4285714, B 2.64
  close(tensor, [
    2.2489083, -2.0357143, -1.8044444, // red
    -2.1179039, 2.4285714, -1.8044444, // green
    -2.1179039, -2.0357143, 2.64, // blue
    2.2489083, 2.4285714, 2.64, // white
  ]);
});

test('nearest picks source pixels; bilinear of a uniform image keeps its value', async () => {
  // 4×4: the top-left 2×2 quadrant grey 100, the rest grey 200.
  const rgb: number[] = [];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) rgb.push(...Array(3).fill(x < 2 && y < 2 ? 100 : 200));
  const nearest = preprocessImage(await codec.toRgb(await png(4, 4, rgb), 2, { resize: 'nearest' }));
  // 100/255 = 0.39215686 → R −0.4054285, G −0.2850140, B −0.0615251; 200/255 = 0.78431373 → R 1.3070468, G 1.4656863, B 1.6813943
  close(nearest, [-0.4054285, -0.285014, -0.0615251, 1.3070468, 1.4656863, 1.6813943, 1.3070468, 1.4656863, 1.6813943, 1.3070468, 1.4656863, 1.6813943]);
  const uniform = preprocessImage(await codec.toRgb(await png(3, 3, Array(27).fill(200)), 2));
  close(uniform, Array(4).fill([1.3070468, 1.4656863, 1.6813943]).flat());
});

test('centre crop keeps the middle square of a wide image', async () => {
  // 6×2: left third black, middle third white, right third black → centre crop 2×2 is all white.
  const rgb: number[] = [];
  for (let y = 0; y < 2; y++) for (let x = 0; x < 6; x++) rgb.push(...Array(3).fill(x >= 2 && x < 4 ? 255 : 0));
  const cropped = preprocessImage(await codec.toRgb(await png(6, 2, rgb), 2, { resize: 'nearest', crop: 'center' }));
  close(cropped, Array(4).fill([2.2489083, 2.4285714, 2.64]).flat());
});

test('the model id names non-default preprocessing only', () => {
  assert.equal(withPreprocessing('densenet121:random-seed-1', { resize: 'bilinear', crop: 'none' }), 'densenet121:random-seed-1');
  assert.equal(withPreprocessing('densenet121:keras-imagenet', { resize: 'nearest', crop: 'none' }), 'densenet121:keras-imagenet:nearest');
  assert.equal(withPreprocessing('densenet121:keras-imagenet', { resize: 'bilinear', crop: 'center' }), 'densenet121:keras-imagenet:bilinear-center-crop');
});
