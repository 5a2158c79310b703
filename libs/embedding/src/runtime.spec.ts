import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DENSENET_TINY, denseNetDimension } from './densenet.js';
import { EmbeddingRuntime, initBackend } from './runtime.js';

const S = DENSENET_TINY.inputSize;
const image = (seed: number) => ({
  width: S,
  height: S,
  data: Uint8Array.from({ length: S * S * 3 }, (_, i) => (i * 31 + seed * 97 + ((i * seed) % 13)) % 256),
});

test('starts the wasm backend and says so', async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
  // The backend is per thread; a later request gets the one already running.
  assert.equal(await initBackend('cpu'), 'wasm');
});

test('embeds a batch into unit vectors, each as if embedded alone', async () => {
  const runtime = await EmbeddingRuntime.create({ ...DENSENET_TINY, seed: 1 });
  try {
    assert.equal(runtime.backend, 'wasm');
    assert.equal(runtime.modelId, 'densenet-b1.1.1.1-g8-s32:random-seed-1');
    const batch = runtime.embed([image(1), image(2), image(1)]);
    assert.equal(batch.length, 3);
    for (const v of batch) {
      assert.equal(v.length, denseNetDimension(DENSENET_TINY));
      assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
      assert.equal(v.byteLength, v.buffer.byteLength, 'each vector owns its buffer');
    }
    assert.deepEqual(batch[2], batch[0]);
    assert.notDeepEqual(batch[1], batch[0]);
    const [alone] = runtime.embed([image(2)]);
    alone.forEach((x, i) => assert.ok(Math.abs(x - batch[1][i]) < 1e-6));
    assert.deepEqual(runtime.embed([]), []);
  } finally {
    runtime.dispose();
  }
});

test('rejects images of the wrong size', async () => {
  const runtime = await EmbeddingRuntime.create({ ...DENSENET_TINY, seed: 1 });
  try {
    assert.throws(() => runtime.embed([{ width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) }]), /takes 32x32/);
  } finally {
    runtime.dispose();
  }
});
