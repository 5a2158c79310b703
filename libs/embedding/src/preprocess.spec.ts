import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preprocessImage } from './preprocess.js';

const close = (actual: number, expected: number) =>
  assert.ok(Math.abs(actual - expected) < 1e-5, `${actual} is not ${expected}`);

test('Keras torch-mode preprocess_input on a known pixel', () => {
  const out = preprocessImage({ width: 1, height: 1, data: Uint8Array.of(255, 0, 128) });
  assert.equal(out.length, 3);
  // Worked by hand: (x/255 - mean) / std per channel.
  close(out[0], (1 - 0.485) / 0.229); // 2.2489083
  close(out[1], (0 - 0.456) / 0.224); // -2.0357143
  close(out[2], (128 / 255 - 0.406) / 0.225); // 0.4264052
});

test('keeps HWC order and writes at an offset into a shared batch buffer', () => {
  const image = { width: 2, height: 1, data: Uint8Array.of(0, 0, 0, 255, 255, 255) };
  const out = new Float32Array(3 + 6).fill(99);
  preprocessImage(image, out, 3);
  assert.deepEqual(Array.from(out.subarray(0, 3)), [99, 99, 99]);
  close(out[3], -0.485 / 0.229);
  close(out[5], -0.406 / 0.225);
  close(out[6], (1 - 0.485) / 0.229);
  close(out[8], (1 - 0.406) / 0.225);
});

test('rejects a buffer that does not match the size', () => {
  assert.throws(() => preprocessImage({ width: 2, height: 2, data: new Uint8Array(11) }), /needs 12 bytes/);
  assert.throws(() => preprocessImage({ width: 0, height: 2, data: new Uint8Array(0) }), /positive/);
});
