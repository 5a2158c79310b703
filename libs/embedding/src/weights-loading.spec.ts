// Weights files through the whole embedder: the thread loads the file, the vectors equal an
// in-memory model with the same weights, the id names the file, bad files stop start-up clearly.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildDenseNet, DENSENET_TINY } from './densenet.js';
import { ThreadEmbedder } from './thread-embedder.js';
import { kerasNamedWeights, writeKerasH5, writeKerasH5Weights, writeTfjsLayersModel } from './weights/index.js';

const S = DENSENET_TINY.inputSize;
const images = [0, 1, 2].map((k) => ({
  width: S,
  height: S,
  data: Uint8Array.from({ length: S * S * 3 }, (_, i) => (i * (7 + k * 13)) % 256),
}));

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((v, i) => v.forEach((x, j) => (m = Math.max(m, Math.abs(x - b[i][j])))));
  return m;
}

describe('ThreadEmbedder with a weights file', () => {
  let dir: string;
  let reference: Float32Array[];

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weights-load-'));
    const model = buildDenseNet({ ...DENSENET_TINY, seed: 7 });
    await writeKerasH5Weights(model, path.join(dir, 'tiny.h5'));
    await writeTfjsLayersModel(model, path.join(dir, 'tfjs'));
    const broken = kerasNamedWeights(model);
    const [first] = broken.get('conv1/conv')!;
    broken.set('conv1/conv', [{ ...first, shape: [7, 7, 3, first.shape[3] + 1], values: new Float32Array(first.values.length + 7 * 7 * 3) }]);
    await writeKerasH5(broken, path.join(dir, 'wrong-shape.h5'));
    const missing = kerasNamedWeights(model);
    missing.delete('conv2_block1_1_conv');
    await writeKerasH5(missing, path.join(dir, 'missing-layer.h5'));
    model.dispose();
    const seeded = await ThreadEmbedder.create({ preset: 'tiny', seed: 7 });
    reference = await seeded.embed(images);
    await seeded.close();
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  for (const file of ['tiny.h5', 'tfjs/model.json']) {
    test(`${file}: the same vectors as the model the file was written from, an id naming the file`, async () => {
      const embedder = await ThreadEmbedder.create({ preset: 'tiny', seed: 1, weightsFile: path.join(dir, file) });
      try {
        assert.ok(maxAbsDiff(await embedder.embed(images), reference) < 1e-6);
        assert.match(embedder.info.id, /^densenet-b1\.1\.1\.1-g8-s32:weights-[0-9a-f]{12}$/);
        assert.equal(embedder.info.pretrained, false, 'only the official Keras file is called pretrained');
        assert.match(embedder.info.weightsSource, /file .*/);
      } finally {
        await embedder.close();
      }
    });
  }

  test('a file with one wrong shape stops start-up naming the layer', async () => {
    await assert.rejects(ThreadEmbedder.create({ preset: 'tiny', weightsFile: path.join(dir, 'wrong-shape.h5') }), /conv1\/conv: kernel shape/);
  });

  test('a file missing a layer stops start-up naming the layer', async () => {
    await assert.rejects(ThreadEmbedder.create({ preset: 'tiny', weightsFile: path.join(dir, 'missing-layer.h5') }), /conv2_block1_1_conv/);
  });

  test('a truncated file stops start-up with a clear error', async () => {
    const bytes = await fs.readFile(path.join(dir, 'tiny.h5'));
    await fs.writeFile(path.join(dir, 'cut.h5'), bytes.subarray(0, bytes.length >> 1));
    await assert.rejects(ThreadEmbedder.create({ preset: 'tiny', weightsFile: path.join(dir, 'cut.h5') }), /truncated|HDF5/i);
  });
});
