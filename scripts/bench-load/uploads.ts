/**
 * Part (b): uploads/s and time-to-classification with N worker processes under C concurrent
 * uploading clients, on real processes as deployed (API + N workers, one PGlite served over the
 * wire by a host process, one redis-server), the real DenseNet121; CPU per process and thread,
 * memory per process (part c).
 */
import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { type Client, createClient } from 'graphql-ws';
import sharp from 'sharp';
import WebSocket from 'ws';
import { distinctImage } from '../../test/fixtures/images.js';
import { graphqlMultipart } from '../../test/helpers/multipart.js';
import { CpuWindow, type CpuReport, makeTempDir, memory, type Proc, resetPeak, treePssMiB, ROOT, startNativePostgres, startPgliteHost, startRedis, startService } from './procs.js';
import { type LatencySummary, round, summarize } from './stats.js';

const DATABASE_PROCESS = 'DB host';

export interface UploadOptions {
  workers: number[];
  uploads: number;
  clients: number;
  /** Env for the worker processes' model (MODEL_WEIGHTS=random, MODEL_RUNTIME=onnx-cpu, …). */
  modelEnv: Record<string, string>;
  /** PGlite served over the wire (the default), or a native PostgreSQL with pgvector (startNativePostgres). */
  database: 'pglite' | 'native';
  log: (message: string) => void;
}

export interface UploadImage {
  bytes: Buffer;
  name: string;
  label: string;
}

export interface ConfigResult {
  workers: number;
  /** The database as run: `PGlite … over the wire` or `PostgreSQL 15.x, pgvector 0.8.x`. */
  database?: string;
  uploads: number;
  completed: number;
  failedUploads: number;
  /** Classified but the event never came (READY found by polling): left out of the latencies. */
  missedEvents: number;
  failedImages: number;
  wallSeconds: number;
  /** Classified uploads per second, first upload request to last classification. */
  uploadsPerSecond: number;
  /**
   * With --repeats: uploads/s of every run of this configuration (fresh processes each); the
   * figures here are those of the median run.
   */
  runsUploadsPerSecond?: number[];
  uploadRequestMs: LatencySummary;
  timeToClassificationMs: LatencySummary;
  /** One client, one upload at a time, before the loaded run: the pipeline's own latency, no queueing. */
  unloadedTimeToClassificationMs: LatencySummary;
  startupSeconds: { api: number; workers: number[] };
  model: { id: string; runtime: string; pretrained: boolean } | null;
  cpu: CpuBreakdown;
  memory: { process: string; pid: number; peakMiB: number | null; endMiB: number | null }[];
  /** Uploads/s over the model-only images/s measured in the same run (ModelOnlyMeter). */
  ratioToModelOnly: number | null;
  /** Uploads/s over bench:embed's stored figure (bench/results/embed.json), for comparison; absent in older results. */
  ratioToStoredModelOnly?: number | null;
}

export interface CpuBreakdown {
  windowSeconds: number;
  cores: number;
  /** CPU seconds of every process below over (window × cores). */
  machineUtilisation: number;
  /** Share of the machine's CPU busy with anything; well above machineUtilisation: other load was running. */
  machineBusy: number;
  processes: { process: string; pid: number; cpuSeconds: number; share: number; threads?: { thread: string; cpuSeconds: number; share: number }[] }[];
  /** Stages summed over processes, shares of all CPU measured (load generator included). */
  stages: { stage: string; cpuSeconds: number; share: number }[];
  /** CPU seconds per classified upload, by stage. */
  perUploadMs: Record<string, number>;
  limit: string;
}

/** Small realistic uploads: photos-like pictures 160–480 px, every other one a JPEG (quality 85), the rest PNG. */
export async function makeUploadImages(count: number, seedBase: number): Promise<UploadImage[]> {
  const out: UploadImage[] = [];
  for (let i = 0; i < count; i++) {
    const seed = seedBase + i;
    const size = 160 + ((seed * 97) % 321);
    const png = await distinctImage(seed, size);
    const jpeg = i % 2 === 0;
    const bytes = jpeg ? await sharp(png).jpeg({ quality: 85 }).toBuffer() : png;
    out.push({ bytes, name: jpeg ? `photo-${seed}.jpg` : `photo-${seed}.png`, label: `class-${seed % 10}` });
  }
  return out;
}

export function describeImages(images: UploadImage[]) {
  const sizes = images.map((i) => i.bytes.length);
  return {
    count: images.length,
    jpeg: images.filter((i) => i.name.endsWith('.jpg')).length,
    png: images.filter((i) => i.name.endsWith('.png')).length,
    sidePx: '160–480 (square), generated (gradients, discs and rectangles)',
    meanKiB: round(sizes.reduce((a, b) => a + b, 0) / sizes.length / 1024, 1),
    maxKiB: round(Math.max(...sizes) / 1024, 1),
  };
}

const UPLOAD = 'mutation ($f: Upload!, $c: String, $l: String) { uploadImage(file: $f, collection: $c, label: $l) { id } }';

// Keep-alive connections, as a browser or the CLI would hold them.
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * The multipart request is built by hand and sent with node:http: the load generator shares the
 * machine with the service it measures, and undici's fetch with FormData and Blob cost it several
 * times the CPU per upload.
 */
async function upload(port: number, image: UploadImage, collection: string): Promise<{ id?: string; error?: string }> {
  const { body, contentType } = graphqlMultipart(UPLOAD, { c: collection, l: image.label }, { bytes: image.bytes, name: image.name });
  try {
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent, timeout: 60_000, headers: { 'content-type': contentType, 'content-length': body.length, 'apollo-require-preflight': 'true' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('no response in 60 s')));
      req.on('error', reject);
      req.end(body);
    });
    const parsed = JSON.parse(text) as { data?: { uploadImage?: { id: string } }; errors?: unknown };
    return parsed.data?.uploadImage ? { id: parsed.data.uploadImage.id } : { error: text.slice(0, 300) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

async function gql(port: number, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return ((await res.json()) as { data?: unknown }).data;
}

/** Every classificationReady event of the API, by image id, with the time it arrived here. */
class EventLog {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, (t: number) => void>();
  readonly client: Client;

  constructor(port: number) {
    this.client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  }

  subscribe(collection: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let ready = false;
      this.client.subscribe(
        { query: 'subscription ($c: String) { classificationReady(collection: $c) { image { id status } } }', variables: { c: collection } },
        {
          next: (v: any) => {
            const id = v.data?.classificationReady?.image?.id as string | undefined;
            if (!id) return;
            const t = performance.now();
            this.seen.set(id, t);
            this.waiters.get(id)?.(t);
            this.waiters.delete(id);
          },
          error: (e) => (ready ? undefined : reject(e instanceof Error ? e : new Error(JSON.stringify(e)))),
          complete: () => {},
        },
      );
      // graphql-ws has no "subscribed" ack: give the server a moment to register the subscription.
      setTimeout(() => {
        ready = true;
        resolve();
      }, 500);
    });
  }

  /** The arrival time of the event for `id`, or null after `timeoutMs`. */
  wait(id: string, timeoutMs: number): Promise<number | null> {
    const t = this.seen.get(id);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiters.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

/** `clients` clients, each uploading the next image and waiting for its event before the next. */
async function closedLoop(port: number, events: EventLog, images: UploadImage[], collection: string, clients: number, log: (m: string) => void) {
  const uploadMs: number[] = [];
  const ttcMs: number[] = [];
  const missed: string[] = [];
  let failedUploads = 0;
  let next = 0;
  let last = 0;
  const first = performance.now();
  const client = async () => {
    while (next < images.length) {
      const image = images[next++];
      const start = performance.now();
      const res = await upload(port, image, collection);
      uploadMs.push(performance.now() - start);
      if (!res.id) {
        failedUploads++;
        if (failedUploads <= 3) log(`  upload failed: ${res.error}`);
        continue;
      }
      const at = await events.wait(res.id, 180_000);
      if (at === null) missed.push(res.id);
      else {
        ttcMs.push(at - start);
        last = Math.max(last, at);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  return { uploadMs, ttcMs, missed, failedUploads, first, last };
}

export async function runUploadConfig(
  workers: number,
  sets: { images: UploadImage[]; warmup: UploadImage[]; warmLoad: UploadImage[]; unloaded: UploadImage[] },
  opts: UploadOptions,
): Promise<ConfigResult> {
  const { log } = opts;
  const { images, warmup: warmupImages } = sets;
  // This process's peak from here on (the search run before kept more).
  resetPeak(process.pid);
  const dir = await makeTempDir(`lookalike-bench-upload-${workers}w-`);
  const started: Proc[] = [];
  let events: EventLog | null = null;
  try {
    const db: Proc & { url: string; version?: string } = opts.database === 'native' ? await startNativePostgres(dir) : await startPgliteHost();
    started.push(db);
    const redis = await startRedis(path.join(dir, 'redis'));
    started.push(redis.proc);
    const env = {
      HOST: '127.0.0.1',
      DATA_DIR: path.join(dir, 'data'),
      DATABASE_URL: db.url,
      REDIS_URL: redis.url,
      LOG_LEVEL: 'info',
      ...opts.modelEnv,
    };
    let t0 = performance.now();
    // The API migrates the fresh database first, as the one-shot migration job would.
    const api = await startService('api', 'api', env);
    started.push(api);
    const apiStartup = (performance.now() - t0) / 1000;
    const workerProcs: (Proc & { port: number })[] = [];
    const workerStartup: number[] = [];
    for (let i = 0; i < workers; i++) {
      t0 = performance.now();
      const w = await startService('worker', `worker ${i + 1}`, env);
      workerProcs.push(w);
      started.push(w);
      workerStartup.push(round((performance.now() - t0) / 1000, 1));
    }
    log(`  ${workers} worker(s) up (${workerStartup.join(', ')} s each); warming up with ${warmupImages.length} uploads`);
    const modelData = await gql(api.port, '{ model { id runtime pretrained } }');
    const model = (modelData?.model ?? null) as ConfigResult['model'];

    events = new EventLog(api.port);
    await events.subscribe('warmup');
    await events.subscribe('unloaded');
    await events.subscribe('load');
    const warm = await Promise.all(warmupImages.map((img) => upload(api.port, img, 'warmup')));
    const warmIds = warm.map((r) => {
      if (!r.id) throw new Error(`warm-up upload failed: ${r.error}`);
      return r.id;
    });
    for (const id of warmIds) if ((await events.wait(id, 180_000)) === null) throw new Error(`warm-up image ${id} not classified in 180 s`);
    // Then the same closed loop as the measured run, unmeasured: a service runs with its code
    // compiled and its pools and caches filled, not in the first seconds after it started.
    if (sets.warmLoad.length > 0) {
      log(`  warming up under load: ${sets.warmLoad.length} uploads from ${opts.clients} clients`);
      const warmLoop = await closedLoop(api.port, events, sets.warmLoad, 'warmup', opts.clients, log);
      if (warmLoop.failedUploads > 0 || warmLoop.missed.length > 0) throw new Error(`warm-up under load: ${warmLoop.failedUploads} uploads failed, ${warmLoop.missed.length} events missed`);
    }

    // Unloaded: one upload at a time, each waited for.
    const unloadedMs: number[] = [];
    for (const img of sets.unloaded) {
      const start = performance.now();
      const res = await upload(api.port, img, 'unloaded');
      if (!res.id) throw new Error(`upload failed: ${res.error}`);
      const at = await events.wait(res.id, 60_000);
      if (at !== null) unloadedMs.push(at - start);
    }

    const procs = [
      { name: 'API', pid: api.pid },
      ...workerProcs.map((w, i) => ({ name: `worker ${i + 1}`, pid: w.pid })),
      { name: 'redis-server', pid: redis.proc.pid },
      opts.database === 'native'
        ? { name: `${DATABASE_PROCESS} (PostgreSQL: postmaster and backends)`, pid: db.pid, tree: true }
        : { name: `${DATABASE_PROCESS} (PGlite over the wire)`, pid: db.pid },
      { name: 'load generator (this script)', pid: process.pid },
    ];
    const cpu = new CpuWindow(procs);
    log(`  ${images.length} uploads from ${opts.clients} clients`);
    cpu.start();
    const loop = await closedLoop(api.port, events, images, 'load', opts.clients, log);
    const { uploadMs, ttcMs, failedUploads, first, last } = loop;
    let { missed } = loop;
    const wallSeconds = ((last || performance.now()) - first) / 1000;
    const report = cpu.stop();
    const mem = procs.map((p) => {
      // Postgres is a process per backend: their Pss summed (shared buffers once); no peak exists for it.
      if (p.tree) return { process: p.name, pid: p.pid, peakMiB: null, endMiB: treePssMiB(p.pid) };
      const m = memory(p.pid);
      return { process: p.name, pid: p.pid, peakMiB: m.peakMiB, endMiB: m.rssMiB };
    });

    // Images whose event never came: classified anyway?
    let failedImages = 0;
    const missedReady: string[] = [];
    for (const id of missed) {
      const data = await gql(api.port, 'query ($id: ID!) { image(id: $id) { status } }', { id });
      if (data?.image?.status === 'READY') missedReady.push(id);
      else failedImages++;
    }
    missed = missedReady;
    const completed = ttcMs.length + missed.length;
    const result: ConfigResult = {
      workers,
      database: db.version ?? 'PGlite (in memory, pgvector) served over the wire by a process of its own',
      uploads: images.length,
      completed,
      failedUploads,
      missedEvents: missed.length,
      failedImages,
      wallSeconds: round(wallSeconds),
      uploadsPerSecond: round(ttcMs.length / wallSeconds),
      uploadRequestMs: summarize(uploadMs),
      timeToClassificationMs: summarize(ttcMs),
      unloadedTimeToClassificationMs: summarize(unloadedMs),
      startupSeconds: { api: round(apiStartup, 1), workers: workerStartup },
      model,
      cpu: breakdown(report, ttcMs.length),
      memory: mem,
      // Set once the run's model-only reference is known (it is measured after this configuration too).
      ratioToModelOnly: null,
    };
    log(
      `  ${workers} worker(s): ${result.uploadsPerSecond} uploads/s, time-to-classification p50 ${result.timeToClassificationMs.p50} ms p99 ${result.timeToClassificationMs.p99} ms; ${result.cpu.limit}`,
    );
    return result;
  } finally {
    await events?.close().catch(() => {});
    for (const p of started.reverse()) await p.stop().catch(() => {});
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Shares of all CPU measured. A worker's model runs in a worker thread (ONNX Runtime, 1 intra-op
 * thread), so its busiest thread other than the main one is taken as the model thread (with any
 * other thread using at least 30% as much: several model hosts). Node names every thread "node":
 * this is by elimination, not by name.
 */
function breakdown(r: CpuReport, classified: number): CpuBreakdown {
  const total = r.totalCpuSeconds || 1;
  const share = (s: number) => round(s / total, 4);
  let model = 0;
  let workerMain = 0;
  let workerOther = 0;
  const processes = r.processes.map((p) => {
    const row: CpuBreakdown['processes'][number] = { process: p.name, pid: p.pid, cpuSeconds: round(p.seconds), share: share(p.seconds) };
    if (p.name.startsWith('worker')) {
      const main = p.threads.find((t) => t.main)?.seconds ?? 0;
      // The busiest non-main thread, and any other within reach of it (a worker may run several model hosts).
      const others = p.threads.filter((t) => !t.main);
      const top = others[0]?.seconds ?? 0;
      const modelThreads = others.filter((t) => t.seconds > 0 && t.seconds >= 0.3 * top);
      const modelThread = modelThreads.reduce((a, t) => a + t.seconds, 0);
      const other = Math.max(0, p.seconds - main - modelThread);
      model += modelThread;
      workerMain += main;
      workerOther += other;
      row.threads = [
        { thread: `model thread${modelThreads.length > 1 ? `s (${modelThreads.length})` : ''} (DenseNet121 in ONNX Runtime: the busiest non-main thread${modelThreads.length > 1 ? 's' : ''})`, cpuSeconds: round(modelThread), share: share(modelThread) },
        { thread: 'main thread (BullMQ, pg, redis, kNN, events)', cpuSeconds: round(main), share: share(main) },
        { thread: 'other threads (libuv pool: sharp decode/resize, fs; GC)', cpuSeconds: round(other), share: share(other) },
      ];
    }
    return row;
  });
  const sec = (name: string) => r.processes.filter((p) => p.name.startsWith(name)).reduce((s, p) => s + p.seconds, 0);
  const stages = [
    { stage: 'model (worker model threads)', cpuSeconds: model },
    { stage: 'worker plumbing (main threads: queue, DB, kNN, events)', cpuSeconds: workerMain },
    { stage: 'worker image decode and other threads', cpuSeconds: workerOther },
    { stage: 'API (upload parsing, sharp inspect, storage, GraphQL, subscriptions)', cpuSeconds: sec('API') },
    { stage: r.processes.some((p) => p.name.startsWith(DATABASE_PROCESS) && p.name.includes('PGlite')) ? 'database (PGlite host)' : 'database (PostgreSQL processes)', cpuSeconds: sec(DATABASE_PROCESS) },
    { stage: 'redis-server', cpuSeconds: sec('redis-server') },
    { stage: 'load generator (clients, not the service)', cpuSeconds: sec('load generator') },
  ].map((s) => ({ stage: s.stage, cpuSeconds: round(s.cpuSeconds), share: share(s.cpuSeconds) }));
  const perUploadMs = Object.fromEntries(stages.map((s) => [s.stage, classified ? round((1000 * s.cpuSeconds) / classified, 1) : Number.NaN]));
  const service = total - sec('load generator');
  const modelShareOfService = service > 0 ? model / service : 0;
  const busy = Number.isFinite(r.machineBusy) ? r.machineBusy : r.machineUtilisation;
  const saturated = busy >= 0.85;
  const biggest = [...stages].filter((s) => !s.stage.startsWith('load')).sort((a, b) => b.cpuSeconds - a.cpuSeconds)[0];
  const others = busy - r.machineUtilisation;
  const workers = r.processes.filter((p) => p.name.startsWith('worker')).length;
  const modelBusy = workers && r.wallSeconds > 0 ? model / (workers * r.wallSeconds) : 0;
  const verdict = saturated
    ? modelShareOfService >= 0.5
      ? 'the model is the limit'
      : 'the plumbing is the limit'
    : 'CPU to spare: the limit is waiting (queue hand-offs, database round trips, batching), not CPU';
  const limit =
    `${saturated ? 'CPU saturated' : 'CPU not saturated'} (the benchmark's processes used ${Math.round(100 * r.machineUtilisation)}% of ${r.cores} cores` +
    `${others > 0.1 ? `; other processes another ${Math.round(100 * others)}%: figures disturbed` : ''}); ` +
    `the model takes ${Math.round(100 * modelShareOfService)}% of the service's CPU, the plumbing ${Math.round(100 * (1 - modelShareOfService))}%; ` +
    `model threads busy ${Math.round(100 * modelBusy)}% of the window: ${verdict} (largest stage: ${biggest.stage})`;
  return {
    windowSeconds: round(r.wallSeconds),
    cores: r.cores,
    machineUtilisation: round(r.machineUtilisation, 3),
    machineBusy: round(r.machineBusy, 3),
    processes,
    stages,
    perUploadMs,
    limit,
  };
}

/**
 * The best onnx-cpu model-only images/s of bench/results/embed.json (`npm run bench:embed`): its
 * `results` rows (runtime × threads × batch) and its `twoCores` variants (several model hosts);
 * never its end-to-end rows.
 */
/** bench:embed's best onnx-cpu model-only figure of record, from bench/results/embed.json. */
export async function storedModelOnlyFigure(file = path.join(ROOT, 'bench/results/embed.json')): Promise<{ imagesPerSecond: number | null; source: string; note: string }> {
  let json: any;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch {
    return { imagesPerSecond: null, source: 'bench/results/embed.json', note: 'not measured (bench/results/embed.json not found)' };
  }
  const found: { value: number; basis: string }[] = [];
  for (const r of Array.isArray(json?.results) ? json.results : []) {
    if (r?.runtime === 'onnx-cpu' && (r.status === undefined || r.status === 'ok') && typeof r.imagesPerSecond === 'number') {
      found.push({ value: r.imagesPerSecond, basis: `results: onnx-cpu, ${r.threads} thread(s), batch ${r.batch}` });
    }
  }
  const two = json?.twoCores;
  if (two?.runtime === 'onnx-cpu' && Array.isArray(two.batches)) {
    for (const b of two.batches) {
      for (const v of Array.isArray(b?.variants) ? b.variants : []) {
        if (typeof v?.imagesPerSecond === 'number') found.push({ value: v.imagesPerSecond, basis: `twoCores: ${v.name ?? 'variant'}, batch ${b.batch}` });
      }
    }
  }
  if (found.length === 0) return { imagesPerSecond: null, source: 'bench/results/embed.json', note: 'not measured (no onnx-cpu model-only figure in bench/results/embed.json)' };
  const best = found.sort((a, b) => b.value - a.value)[0];
  return {
    imagesPerSecond: round(best.value),
    source: `bench/results/embed.json (${best.basis})`,
    note: `best onnx-cpu model-only figure${json.quick ? ', from a QUICK embed run' : ''}${json.date ? `, ${String(json.date).slice(0, 10)}` : ''}`,
  };
}
