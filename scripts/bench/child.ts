// One benchmark configuration in a process of its own (so its peak RSS is its own), started by
// scripts/bench-embed.ts with fork(); the spec comes as argv[2] (JSON), results go back by IPC.
//   prepare  converts the ONNX graph into the cache and counts DenseNet121's FLOPs
//   model    decode / preprocess / inference timings for one runtime × threads × batch
//   host     one single-thread model host that starts measuring on the parent's 'go' (2-core comparison)
//   threads  N ThreadEmbedders (worker threads, one model each) fed at once in this process
//   e2e      the real service: API + worker + PGlite + local redis-server, uploads through GraphQL
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { buildDenseNet, DENSENET121, preprocessImage, selectRuntime, ThreadEmbedder, type ModelRuntime, type RuntimeName } from '@lookalike/embedding';
import { ensureScratchBackend } from '@lookalike/embedding/runtime';
import { SharpImageCodec } from '@lookalike/shared/adapters/sharp-image-codec';
import type { RgbImage } from '@lookalike/shared/domain/image';

export const SEED = 1;

export interface ModelSpec {
  mode: 'model';
  runtime: RuntimeName;
  threads: number;
  batch: number;
  /** Images timed through the model (a whole number of batches). */
  images: number;
  /** Images run before timing: the first call compiles kernels and allocates buffers. */
  warmupImages: number;
  files: string[];
  cacheDir: string;
  /** Decode/preprocess timings too (off where the runtime is too slow to spend time on anything else). */
  decode: boolean;
}

export interface HostSpec {
  mode: 'host';
  runtime: RuntimeName;
  batch: number;
  images: number;
  files: string[];
  cacheDir: string;
}

export interface ThreadsSpec {
  mode: 'threads';
  runtime: RuntimeName;
  hosts: number;
  batch: number;
  /** Per host. */
  images: number;
  files: string[];
  cacheDir: string;
}

export interface PrepareSpec {
  mode: 'prepare';
  cacheDir: string;
}

export interface E2eSpec {
  mode: 'e2e';
  runtime: RuntimeName;
  images: number;
  files: string[];
  cacheDir: string;
  /** Also time uploads made while the worker runs (the API's own decoding then shares the cores). */
  concurrentPhase: boolean;
  /** PGlite in this process (the default set-up), or a native PostgreSQL with pgvector over the wire. */
  database: 'pglite' | 'native';
}

export type ChildSpec = ModelSpec | HostSpec | ThreadsSpec | PrepareSpec | E2eSpec;

export type ChildMessage =
  | { type: 'result'; result: Record<string, unknown> }
  | { type: 'unavailable'; reason: string; errorName: string }
  | { type: 'ready' }
  | { type: 'error'; message: string; stack?: string };

const send = (message: ChildMessage) =>
  new Promise<void>((resolve, reject) => process.send!(message, undefined, undefined, (e: Error | null) => (e ? reject(e) : resolve())));

const peakRssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const now = () => performance.now();
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const S = DENSENET121.inputSize;
const codec = new SharpImageCodec();

/** The worker's own path from bytes to the model's input: SharpImageCodec.toRgb (bilinear, no crop). */
const toModelInput = (bytes: Buffer): Promise<RgbImage> => codec.toRgb(bytes, S, { resize: 'bilinear', crop: 'none' });

async function loadRuntime(runtime: RuntimeName, threads: number, cacheDir: string): Promise<ModelRuntime | { unavailable: string; errorName: string }> {
  try {
    const selected = await selectRuntime({ ...DENSENET121, seed: SEED, runtime, threads, cacheDir });
    return selected.runtime;
  } catch (error) {
    const e = error as Error;
    return { unavailable: e.message, errorName: e.name };
  }
}

async function readFiles(files: string[], count: number): Promise<Buffer[]> {
  const bytes = await Promise.all(files.map((f) => fs.readFile(f)));
  return Array.from({ length: count }, (_, i) => bytes[i % bytes.length]);
}

/**
 * Per image, one at a time: decode (sharp, full size, to 8-bit sRGB), preprocess (resize the decoded
 * pixels to 224×224 as the worker does, then normalise), and — for reference — the worker's actual
 * one-pipeline call (SharpImageCodec.toRgb: header check, decode and resize together) plus normalise.
 */
async function timeDecode(bytes: Buffer[]): Promise<Record<string, number>> {
  const decode: number[] = [];
  const preprocess: number[] = [];
  const codecMs: number[] = [];
  const normalised = new Float32Array(S * S * 3);
  // One untimed pass: sharp/libvips load their codecs on first use.
  await toModelInput(bytes[0]);
  for (const b of bytes) {
    let t = now();
    const { data, info } = await sharp(b, { failOn: 'error' })
      .autoOrient()
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    decode.push(now() - t);
    t = now();
    const resized = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
      .resize(S, S, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: false })
      .raw({ depth: 'uchar' })
      .toBuffer();
    preprocessImage({ width: S, height: S, data: new Uint8Array(resized.buffer, resized.byteOffset, resized.length) }, normalised);
    preprocess.push(now() - t);
    t = now();
    const rgb = await toModelInput(b);
    preprocessImage(rgb, normalised);
    codecMs.push(now() - t);
  }
  return {
    decodeMs: round(mean(decode)),
    preprocessMs: round(mean(preprocess)),
    codecMs: round(mean(codecMs)),
    decodeMedianMs: round(median(decode)),
    preprocessMedianMs: round(median(preprocess)),
    codecMedianMs: round(median(codecMs)),
    decodedImages: bytes.length,
  };
}

function batches<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

async function modelInputs(files: string[], count: number): Promise<RgbImage[]> {
  const distinct = await Promise.all((await readFiles(files, Math.min(files.length, count))).map(toModelInput));
  return Array.from({ length: count }, (_, i) => distinct[i % distinct.length]);
}

async function runModel(spec: ModelSpec): Promise<void> {
  // libvips' threads per image: the configuration's core budget applies to decoding too.
  sharp.concurrency(spec.threads);
  // The runtime first: one that cannot start here is reported without decoding anything.
  const loadStarted = now();
  const runtime = await loadRuntime(spec.runtime, spec.threads, spec.cacheDir);
  if ('unavailable' in runtime) {
    await send({ type: 'unavailable', reason: runtime.unavailable, errorName: runtime.errorName });
    return;
  }
  const loadMs = now() - loadStarted;
  const decodeStats = spec.decode ? await timeDecode(await readFiles(spec.files, Math.min(spec.files.length, Math.max(8, spec.images)))) : {};
  const inputs = await modelInputs(spec.files, spec.images);
  let t = now();
  for (const b of batches(inputs.slice(0, spec.warmupImages), spec.batch)) await runtime.embed(b);
  const warmupMs = now() - t;
  const perBatch: number[] = [];
  const started = now();
  for (const b of batches(inputs, spec.batch)) {
    t = now();
    await runtime.embed(b);
    perBatch.push(now() - t);
  }
  const totalMs = now() - started;
  const result = {
    runtime: spec.runtime,
    description: runtime.description,
    pretrained: runtime.pretrained,
    weightsSource: runtime.weightsSource,
    threads: spec.threads,
    batch: spec.batch,
    images: spec.images,
    warmupImages: spec.warmupImages,
    ...decodeStats,
    inferenceMs: round(totalMs / spec.images),
    batchMedianMs: round(median(perBatch)),
    imagesPerSecond: round((spec.images * 1000) / totalMs),
    loadMs: Math.round(loadMs),
    warmupMs: Math.round(warmupMs),
    peakRssMB: peakRssMB(),
  };
  await runtime.dispose();
  await send({ type: 'result', result });
}

/** A single-thread host that waits for the parent's 'go' so that all hosts measure over the same moment. */
async function runHost(spec: HostSpec): Promise<void> {
  sharp.concurrency(1);
  const runtime = await loadRuntime(spec.runtime, 1, spec.cacheDir);
  if ('unavailable' in runtime) {
    await send({ type: 'unavailable', reason: runtime.unavailable, errorName: runtime.errorName });
    return;
  }
  const inputs = await modelInputs(spec.files, spec.images);
  await runtime.embed(inputs.slice(0, spec.batch));
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  await send({ type: 'ready' });
  await go;
  const startedAt = performance.timeOrigin + now();
  for (const b of batches(inputs, spec.batch)) await runtime.embed(b);
  const endedAt = performance.timeOrigin + now();
  const result = { images: spec.images, startedAt, endedAt, imagesPerSecond: round((spec.images * 1000) / (endedAt - startedAt)), peakRssMB: peakRssMB() };
  await runtime.dispose();
  await send({ type: 'result', result });
}

/** N worker threads in this process, one model each (what ModelHosts/ThreadEmbedder do in the worker). */
async function runThreads(spec: ThreadsSpec): Promise<void> {
  sharp.concurrency(1);
  let hosts: ThreadEmbedder[];
  try {
    hosts = await Promise.all(
      Array.from({ length: spec.hosts }, () => ThreadEmbedder.create({ preset: 'densenet121', seed: SEED, runtime: spec.runtime, threads: 1, cacheDir: spec.cacheDir })),
    );
  } catch (error) {
    await send({ type: 'unavailable', reason: (error as Error).message, errorName: (error as Error).name });
    return;
  }
  const inputs = await modelInputs(spec.files, spec.images);
  await Promise.all(hosts.map((h) => h.embed(inputs.slice(0, spec.batch))));
  const started = now();
  const perHost = await Promise.all(
    hosts.map(async (h) => {
      for (const b of batches(inputs, spec.batch)) await h.embed(b);
      return now() - started;
    }),
  );
  const totalMs = Math.max(...perHost);
  const result = {
    hosts: spec.hosts,
    images: spec.images * spec.hosts,
    imagesPerSecond: round((spec.images * spec.hosts * 1000) / totalMs),
    perHostImagesPerSecond: perHost.map((ms) => round((spec.images * 1000) / ms)),
    description: hosts[0].info.runtime,
    peakRssMB: peakRssMB(),
  };
  await Promise.all(hosts.map((h) => h.close()));
  await send({ type: 'result', result });
}

/** Multiply-adds of every convolution (BN, ReLU and pooling are left out, as in the usual 2.83 G figure). */
async function runPrepare(spec: PrepareSpec): Promise<void> {
  await ensureScratchBackend();
  const model = buildDenseNet({ ...DENSENET121, seed: SEED });
  let macs = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const [kh, kw, cin, cout] = layer.getWeights()[0].shape;
    const out = layer.outputShape as number[];
    macs += out[1] * out[2] * kh * kw * cin * cout;
  }
  model.dispose();
  tf.disposeVariables();
  // Convert (or verify) the cached ONNX graph once, so no timed child pays for the conversion.
  const started = now();
  const runtime = await loadRuntime('onnx-cpu', 1, spec.cacheDir);
  const onnx = 'unavailable' in runtime ? { unavailable: runtime.unavailable } : { cache: (runtime as unknown as { cache?: { outcome: string } }).cache?.outcome };
  if (!('unavailable' in runtime)) await runtime.dispose();
  await send({ type: 'result', result: { macs, gflopPerImage: round((2 * macs) / 1e9, 3), onnx, onnxPrepareMs: Math.round(now() - started) } });
}

async function runE2e(spec: E2eSpec): Promise<void> {
  const [{ loadConfig }, { PGliteClient }, { openDatabase, createInfrastructure }, { startLocalRedis }, { startApi }, { startWorker, workerConcurrency }, { createEmbedder }, { uploadImage }] =
    await Promise.all([
      import('@lookalike/shared/config'),
      import('@lookalike/shared/db/pglite-client'),
      import('@lookalike/shared/infrastructure'),
      import('@lookalike/shared/local-redis'),
      import('@lookalike/api/app'),
      import('@lookalike/worker/app'),
      import('@lookalike/worker/embedder'),
      import('../sample.js'),
    ]);
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-bench-e2e-'));
  const cleanups: Array<() => Promise<unknown>> = [];
  try {
    // Everything local and scratch: never a shared Redis, database or bucket from the environment.
    const base = loadConfig({
      LOG_LEVEL: 'silent',
      ...process.env,
      DATA_DIR: dataDir,
      MODEL_CACHE_DIR: spec.cacheDir,
      MODEL_RUNTIME: spec.runtime,
      MODEL_WEIGHTS: 'random',
      MODEL_SEED: String(SEED),
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: '',
      REDIS_URL: '',
      S3_ENDPOINT: '',
      QUEUE_PREFIX: 'bench',
    });
    const redis = await startLocalRedis(path.join(dataDir, 'redis'));
    cleanups.unshift(() => redis.stop());
    let config = { ...base, REDIS_URL: redis.url };
    let databaseDescription = 'PGlite (in this process, in memory)';
    let db;
    if (spec.database === 'native') {
      const { startNativePostgres, cleanupAll } = await import('../bench-load/procs.js');
      cleanups.unshift(() => cleanupAll());
      const postgres = await startNativePostgres(dataDir);
      config = { ...config, DATABASE_URL: postgres.url };
      databaseDescription = `${postgres.version} (native, over the wire)`;
      db = await openDatabase(config);
    } else {
      db = await openDatabase(config, await PGliteClient.open());
    }
    cleanups.unshift(() => db.close());
    const infra = await createInfrastructure(config, { db });
    cleanups.unshift(() => infra.close());
    const api = await startApi(config, infra);
    cleanups.unshift(() => api.close());

    const files = await readFiles(spec.files, spec.images);
    const labels = 10;
    const upload = async (i: number, collection: string) =>
      uploadImage(api.url, files[i], { collection, label: `class-${i % labels}` }, path.basename(spec.files[i % spec.files.length]));
    const finished = async (collection: string) => {
      const [row] = await infra.db.query<{ n: number; failed: number; labelled: number }>(
        `SELECT count(*) FILTER (WHERE i.status IN ('READY', 'FAILED')) AS n,
                count(*) FILTER (WHERE i.status = 'FAILED') AS failed,
                count(c.label) AS labelled
           FROM images i LEFT JOIN classifications c ON c.image_id = i.id
          WHERE i.collection = $1`,
        [collection],
      );
      return { n: Number(row.n), failed: Number(row.failed), labelled: Number(row.labelled) };
    };
    /** Polls until `count` images are done; also when the first ones were, for a rate without the start-up. */
    const waitAll = async (collection: string, count: number, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      let first: { at: number; n: number } | undefined;
      for (;;) {
        const f = await finished(collection);
        if (!first && f.n > 0) first = { at: now(), n: f.n };
        if (f.n >= count) {
          const end = now();
          // From the first finished batch to the last: the pipeline full, its filling left out.
          const steady = first && f.n > first.n && end > first.at ? (f.n - first.n) / ((end - first.at) / 1000) : undefined;
          return { ...f, steadyImagesPerSecond: steady === undefined ? undefined : round(steady) };
        }
        if (Date.now() > deadline) throw new Error(`only ${f.n}/${count} images of ${collection} were classified within ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // Phase A: the queue filled through GraphQL while no worker runs.
    let t = now();
    for (let i = 0; i < spec.images; i++) await upload(i, 'bench-worker');
    const uploadSeconds = (now() - t) / 1000;

    // Phase B: the worker (model already loaded and warm, as after start-up) drains the queue.
    const embedder = await createEmbedder(config, () => {});
    cleanups.unshift(() => embedder.close());
    t = now();
    const worker = await startWorker(config, infra, embedder, () => {});
    const workerStartMs = now() - t;
    cleanups.unshift(() => worker.close());
    const drained = await waitAll('bench-worker', spec.images, 600_000);
    const workerSeconds = (now() - t) / 1000;
    const batcherAfterB = { ...worker.batcher.stats };

    // Phase C: a client uploads while the worker runs (the API's inspect-decode shares the cores).
    let concurrent: Record<string, unknown> | undefined;
    if (spec.concurrentPhase) {
      t = now();
      for (let i = 0; i < spec.images; i++) await upload(i, 'bench-ingest');
      const uploadedAt = (now() - t) / 1000;
      const done = await waitAll('bench-ingest', spec.images, 600_000);
      const seconds = (now() - t) / 1000;
      concurrent = {
        images: spec.images,
        seconds: round(seconds),
        uploadsDoneAfterSeconds: round(uploadedAt),
        imagesPerSecond: round(spec.images / seconds),
        steadyImagesPerSecond: done.steadyImagesPerSecond,
        failed: done.failed,
        note: 'identical bytes to phase A: the content-addressed store skips writing them again; every other step is the same',
      };
    }
    const stats = worker.batcher.stats;
    await send({
      type: 'result',
      result: {
        runtime: spec.runtime,
        description: embedder.info.runtime,
        modelId: embedder.info.id,
        pretrained: embedder.info.pretrained,
        config: {
          MODEL_THREADS: config.MODEL_THREADS,
          EMBED_BATCH: config.EMBED_BATCH,
          EMBED_BATCH_WAIT_MS: config.EMBED_BATCH_WAIT_MS,
          WORKER_CONCURRENCY: workerConcurrency(config, embedder),
          MODEL_HOSTS: embedder.parallelism ?? 1,
          KNN_K: config.KNN_K,
          database: databaseDescription,
          objects: 'local disk',
          redis: 'local redis-server',
        },
        images: spec.images,
        upload: { seconds: round(uploadSeconds), imagesPerSecond: round(spec.images / uploadSeconds) },
        worker: {
          seconds: round(workerSeconds),
          startWorkerMs: Math.round(workerStartMs),
          imagesPerSecond: round(spec.images / workerSeconds),
          steadyImagesPerSecond: drained.steadyImagesPerSecond,
          failed: drained.failed,
          labelled: drained.labelled,
          modelCalls: batcherAfterB.calls,
          meanBatch: round(batcherAfterB.images / Math.max(1, batcherAfterB.calls)),
          largestBatch: batcherAfterB.largestBatch,
        },
        concurrent,
        batcherTotal: { calls: stats.calls, images: stats.images },
        peakRssMB: peakRssMB(),
      },
    });
  } finally {
    for (const c of cleanups) await c().catch(() => {});
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;
try {
  switch (spec.mode) {
    case 'prepare':
      await runPrepare(spec);
      break;
    case 'model':
      await runModel(spec);
      break;
    case 'host':
      await runHost(spec);
      break;
    case 'threads':
      await runThreads(spec);
      break;
    case 'e2e':
      await runE2e(spec);
      break;
    default:
      throw new Error(`unknown mode ${(spec as { mode: string }).mode}`);
  }
} catch (error) {
  const e = error as Error;
  await send({ type: 'error', message: e.message, stack: e.stack });
}
// ORT, tfjs and the redis clients may leave handles behind: the result is sent, so leave now.
process.disconnect?.();
process.exit(0);
