import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RgbImage } from '@lookalike/shared/domain/image';
import type { Embedder, ModelInfo } from '@lookalike/shared/ports';
import { autoHostCount, ModelHosts } from './model-hosts.js';
import { ThreadEmbedder } from './thread-embedder.js';

const info = (id = 'm'): ModelInfo => ({
  id,
  dimension: 2,
  inputSize: 32,
  pretrained: false,
  weightsSource: 'random (seed 1)',
  runtime: 'fake',
  preprocessing: { resize: 'bilinear', crop: 'none' },
});
const startup = { runtime: 'onnx-cpu' as const, skipped: [] };

/** A host that answers only when released, and says who answered. */
function slowHost(name: number) {
  const calls: (() => void)[] = [];
  const host: Embedder = {
    info: info(),
    embed: (images) => new Promise((resolve) => calls.push(() => resolve(images.map(() => Float32Array.of(name, 0))))),
    close: async () => {},
  };
  return { host, calls };
}

const image = (seed: number): RgbImage => ({ width: 32, height: 32, data: new Uint8Array(32 * 32 * 3).fill(seed) });

test('calls in flight spread over the hosts; each call gets its own host’s answer', async () => {
  const a = slowHost(1);
  const b = slowHost(2);
  const hosts = new ModelHosts([a.host, b.host], startup);
  assert.equal(hosts.parallelism, 2);
  assert.equal(hosts.info.runtime, 'fake × 2 hosts');
  const first = hosts.embed([image(1)]);
  const second = hosts.embed([image(2)]);
  assert.equal(a.calls.length, 1, 'the first call went to host 1');
  assert.equal(b.calls.length, 1, 'the second went to the idle host 2, not behind the first');
  b.calls[0]();
  assert.deepEqual(await second, [Float32Array.of(2, 0)]);
  // Host 2 is free again, host 1 still busy: the next call goes to host 2.
  const third = hosts.embed([image(3)]);
  assert.equal(b.calls.length, 2);
  b.calls[1]();
  a.calls[0]();
  assert.deepEqual(await third, [Float32Array.of(2, 0)]);
  assert.deepEqual(await first, [Float32Array.of(1, 0)]);
});

test('hosts must run one model', () => {
  const other: Embedder = { info: info('other'), embed: async () => [], close: async () => {} };
  assert.throws(() => new ModelHosts([slowHost(1).host, other], startup), /one model/);
  assert.throws(() => new ModelHosts([], startup), /at least one/);
});

test('auto: one host per GPU, else one per threads-sized share of the cores', () => {
  assert.equal(autoHostCount('onnx-cuda', 1, 16), 1);
  assert.equal(autoHostCount('tfjs-node-gpu', 1, 16), 1);
  assert.equal(autoHostCount('onnx-cpu', 1, 2), 2);
  assert.equal(autoHostCount('onnx-cpu', 2, 2), 1);
  assert.equal(autoHostCount('onnx-cpu', 4, 2), 1);
  assert.equal(autoHostCount('tfjs-wasm', 1, 8), 8);
});

test('two real hosts give the vectors one host gives, on the runtime the first one settled', async () => {
  const single = await ThreadEmbedder.create({ preset: 'tiny', seed: 5 });
  const hosts = await ModelHosts.create({ preset: 'tiny', seed: 5, hosts: 2 });
  try {
    assert.equal(hosts.parallelism, 2);
    assert.equal(hosts.info.id, single.info.id);
    assert.equal(hosts.info.runtime, `${single.info.runtime} × 2 hosts`);
    const images = [1, 2, 3, 4].map((s) => ({ width: 32, height: 32, data: Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * s * 7) % 256) }));
    const expected = await single.embed(images);
    const got = await Promise.all(images.map((img) => hosts.embed([img])));
    got.forEach(([v], i) => assert.deepEqual(v, expected[i]));
  } finally {
    await Promise.all([single.close(), hosts.close()]);
  }
  await assert.rejects(ModelHosts.create({ preset: 'tiny', hosts: 0 }), /positive whole number/);
});
