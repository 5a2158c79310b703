import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { RgbImage } from '@lookalike/shared/domain/image';
import { loadOnnxRuntime } from './onnx/runtime.js';
import { ThreadEmbedder } from './thread-embedder.js';
import { deserializeError, type EmbedRequest, type ThreadMessage } from './thread-protocol.js';

const image = (size: number, seed: number): RgbImage => ({
  width: size,
  height: size,
  data: Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 31 + seed * 97 + ((i * seed) % 13)) % 256),
});
const norm = (v: Float32Array) => Math.hypot(...v);
// MODEL_RUNTIME=auto picks ONNX Runtime where the optional onnxruntime-node is installed.
const ortPresent = await loadOnnxRuntime().then(() => true, () => false);
const AUTO_RUNTIME = ortPresent ? 'onnx-cpu (1 thread)' : 'tfjs-wasm';

test('tiny model in a thread: unit vectors, deterministic, image-dependent', async () => {
  const embedder = await ThreadEmbedder.create({ preset: 'tiny', seed: 3 });
  try {
    assert.deepEqual(embedder.info, {
      id: 'densenet-b1.1.1.1-g8-s32:random-seed-3',
      dimension: 23,
      inputSize: 32,
      pretrained: false,
      weightsSource: 'random (seed 3)',
      runtime: AUTO_RUNTIME,
      preprocessing: { resize: 'bilinear', crop: 'none' },
    });
    const a = image(32, 1);
    const [v1, v2] = await embedder.embed([a, image(32, 2)]);
    const [again] = await embedder.embed([a]);
    for (const v of [v1, v2]) {
      assert.equal(v.length, 23);
      assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    }
    assert.deepEqual(again, v1);
    assert.notDeepEqual(v2, v1);
    assert.equal(a.data.length, 32 * 32 * 3, "the caller's pixels are copied, not transferred away");

    // Concurrent calls are answered each with its own result.
    const many = await Promise.all([1, 2, 3, 4].map((s) => embedder.embed([image(32, s)])));
    assert.deepEqual(many[0][0], v1);
    assert.deepEqual(many[1][0], v2);
    assert.deepEqual(await embedder.embed([]), []);
  } finally {
    await embedder.close();
  }
});

test('a failed call rejects alone; the thread keeps serving', async () => {
  const embedder = await ThreadEmbedder.create({ preset: 'tiny' });
  try {
    await assert.rejects(embedder.embed([image(16, 1)]), /takes 32x32 images, got 16x16/);
    // A request the thread itself fails on (checks in embed() normally stop it before the thread).
    const worker = embedder['worker'];
    const threadError = new Promise<Error>((resolve) => {
      const onMessage = (msg: ThreadMessage) => {
        if (msg.type === 'error' && msg.id === -1) {
          worker.off('message', onMessage);
          resolve(deserializeError(msg.error));
        }
      };
      worker.on('message', onMessage);
    });
    const bad: EmbedRequest = { type: 'embed', id: -1, count: 2, width: 32, height: 32, pixels: new Uint8Array(10) };
    // Sent behind embed()'s back, so hold the process open ourselves while the thread answers.
    worker.ref();
    worker.postMessage(bad);
    assert.match((await threadError).message, /wrong length/);
    worker.unref();
    const [v] = await embedder.embed([image(32, 1)]);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5);
  } finally {
    await embedder.close();
  }
  await assert.rejects(embedder.embed([image(32, 1)]), /closed/);
  await embedder.close(); // closing twice is harmless
});

test('tfjs cpu backend gives the same vectors as wasm', async () => {
  const [wasm, cpu] = await Promise.all([
    ThreadEmbedder.create({ preset: 'tiny', runtime: 'tfjs-wasm' }),
    ThreadEmbedder.create({ preset: 'tiny', runtime: 'tfjs-cpu' }),
  ]);
  try {
    assert.equal(wasm.info.runtime, 'tfjs-wasm');
    assert.equal(cpu.info.runtime, 'tfjs-cpu');
    assert.equal(cpu.info.id, wasm.info.id);
    const [a] = await wasm.embed([image(32, 5)]);
    const [b] = await cpu.embed([image(32, 5)]);
    a.forEach((x, i) => assert.ok(Math.abs(x - b[i]) < 1e-4, `component ${i}: ${x} vs ${b[i]}`));
  } finally {
    await Promise.all([wasm.close(), cpu.close()]);
  }
});

test('warm-up: one image, then a batch of the size the caller will send; none when turned off', async () => {
  const cases: Array<[Parameters<typeof ThreadEmbedder.create>[0], number[]]> = [
    [{ preset: 'tiny' }, [1]],
    [{ preset: 'tiny', warmupBatch: 4 }, [1, 4]],
    [{ preset: 'tiny', warmup: false, warmupBatch: 4 }, []],
  ];
  for (const [options, batches] of cases) {
    const embedder = await ThreadEmbedder.create(options);
    try {
      assert.deepEqual(embedder.warmupBatches, batches, JSON.stringify(options));
      assert.equal(embedder.warmupMs > 0, batches.length > 0);
    } finally {
      await embedder.close();
    }
  }
});

test('a thread that cannot build its model rejects create()', async () => {
  await assert.rejects(ThreadEmbedder.create({ preset: 'nope' as 'tiny' }), /Unknown model preset "nope"/);
});

test('DenseNet121 in a thread: 1024-d unit vectors, event loop keeps ticking', async (t) => {
  const embedder = await ThreadEmbedder.create({ preset: 'densenet121' });
  try {
    assert.equal(embedder.info.id, 'densenet121:random-seed-1');
    assert.equal(embedder.info.dimension, 1024);
    assert.equal(embedder.info.inputSize, 224);
    assert.equal(embedder.info.runtime, AUTO_RUNTIME);

    let started = performance.now();
    const [v] = await embedder.embed([image(224, 1)]);
    const singleMs = performance.now() - started;
    assert.equal(v.length, 1024);
    assert.ok(Math.abs(norm(v) - 1) < 1e-5);
    assert.ok(v.every(Number.isFinite));

    // While the thread works on a batch, timers on this thread must keep firing (8 images: ≥ 100 ms even on ORT).
    const batch = [2, 3, 4, 5, 6, 7, 8, 9].map((s) => image(224, s));
    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    started = performance.now();
    const vectors = await embedder.embed(batch);
    const batchMs = performance.now() - started;
    clearInterval(timer);
    assert.equal(vectors.length, 8);
    t.diagnostic(`${embedder.info.runtime}: warm-up ${embedder.warmupMs.toFixed(0)} ms; 1 image ${singleMs.toFixed(0)} ms; 8 images ${batchMs.toFixed(0)} ms; ${ticks} ticks, longest gap ${maxGap.toFixed(1)} ms`);
    assert.ok(ticks >= 10, `only ${ticks} ticks in ${batchMs.toFixed(0)} ms`);
    assert.ok(maxGap < 100, `event loop stalled for ${maxGap.toFixed(0)} ms`);
  } finally {
    await embedder.close();
  }
});

test('the thread also starts under the tsx CLI, from any cwd, and an idle embedder lets the process exit', async () => {
  const tsxCli = fileURLToPath(import.meta.resolve('tsx/cli'));
  const script = fileURLToPath(new URL('./fixtures/tsx-cli-smoke.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, [tsxCli, script], { cwd: tmpdir(), timeout: 60_000 });
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!);
  assert.equal(result.info.runtime, AUTO_RUNTIME);
  assert.equal(result.length, 23);
  assert.ok(Math.abs(result.norm - 1) < 1e-5);
});
