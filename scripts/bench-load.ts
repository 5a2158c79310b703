// `npm run bench:load`: the service under load, every figure side by side in one run.
//  (a) similarImages(imageId, k: 5) through GraphQL (API processes over HTTP, one per HNSW_EF_SEARCH)
//      p50/p99 and recall@5 against exact search, at 10k and 100k stored vectors (synthetic,
//      clustered, 1024-d, inserted with their image rows into the service's tables), next to exact
//      search (no index) in the database and through the API, the service's SQL in the database
//      directly, and hnswlib-node in this process; insert and index build times.
//  (b) uploads/s and time to classification with 1, 2 and 4 worker processes under 32 uploading
//      clients (API + N workers + PGlite over the wire + redis-server, real DenseNet121 with random
//      weights on onnx-cpu), CPU seconds per process and stage.
//  (c) peak and end RSS per process.
// Writes bench/results/load.json, docs/benchmarks.md (between the bench:load markers) and
// docs/bench-load.svg. Cleans up every process and temp dir it started, on failure too.
//   --quick               2k vectors, 1 and 2 workers, 40 uploads: a smoke test of a few minutes
//   --sizes 10000,100000  --probes 300  --exact-probes 50 (exact series above 20k vectors)
//   --workers 1,2,4  --uploads 300  --clients 32  --ef 40,100,150,200  --skip-search  --skip-uploads
//   --warmup 160          uploads under the same load first, unmeasured (default 5 × clients; 0: none)
//   --repeats 3           runs per worker count (fresh processes each); the median run is reported
//   --model-hosts 1       MODEL_HOSTS of each worker (1: one model thread per worker process; auto:
//                         the service's default, one single-thread host per core in every worker)
//   --out bench/results/load.json  --md docs/benchmarks.md  --svg docs/bench-load.svg
//   --report-only         only regenerate the docs section and the plot from --out
//   --database native     (b) on a native PostgreSQL with pgvector (initdb/postgres from PATH or
//                         /usr/lib/postgresql; as root run as the postgres user) instead of PGlite;
//                         use with --skip-search, its own --out/--svg and --section (markers)
//   --section NAME        markers <!-- bench:NAME:start/end --> in --md (default load)
//   --cpu-prof DIR        API and worker processes write V8 CPU profiles into DIR (open them in
//                         Chrome DevTools); profiling slows them: figures from such a run are not of record
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cleanupAll, installSignalHandlers, profileServicesInto, ROOT } from './bench-load/procs.js';
import { computeTargets, type LoadResults, markdown, svg } from './bench-load/report.js';
import { writeDocsSection } from './bench/report.js';
import { loadConfig } from '../libs/shared/src/config.js';
import { type DbStatementsResult, runDbStatements } from './bench-load/db-statements.js';
import { runSearch } from './bench-load/search.js';
import { ModelOnlyMeter } from './bench-load/model-only.js';
import { killChildren } from './bench/run-child.js';
import { type ConfigResult, describeImages, makeUploadImages, runUploadConfig, storedModelOnlyFigure } from './bench-load/uploads.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    probes: { type: 'string' },
    'exact-probes': { type: 'string' },
    workers: { type: 'string' },
    uploads: { type: 'string' },
    warmup: { type: 'string' },
    clients: { type: 'string' },
    repeats: { type: 'string' },
    ef: { type: 'string' },
    'skip-search': { type: 'boolean', default: false },
    'skip-uploads': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/load.json' },
    md: { type: 'string', default: 'docs/benchmarks.md' },
    svg: { type: 'string', default: 'docs/bench-load.svg' },
    'report-only': { type: 'boolean', default: false },
    database: { type: 'string', default: 'pglite' },
    section: { type: 'string', default: 'load' },
    'cpu-prof': { type: 'string' },
    'model-hosts': { type: 'string', default: '1' },
  },
});

// --report-only: regenerate the docs section and the plot from an existing results file.
if (values['report-only']) {
  const json = JSON.parse(await fs.readFile(path.resolve(ROOT, values.out!), 'utf8')) as LoadResults;
  // Targets are derived from the figures: the same rules now as for a fresh run.
  json.targets = computeTargets(json.search, json.uploads);
  await fs.writeFile(path.resolve(ROOT, values.out!), JSON.stringify(json, null, 2) + '\n');
  const mdPath = path.resolve(ROOT, values.md!);
  const svgPath = path.resolve(ROOT, values.svg!);
  await fs.mkdir(path.dirname(svgPath), { recursive: true });
  await fs.writeFile(svgPath, svg(json));
  await writeDocsSection(mdPath, markdown(json, path.relative(path.dirname(mdPath), svgPath)), values.section!);
  console.log(`regenerated ${path.relative(ROOT, mdPath)} (${values.section} section) and ${path.relative(ROOT, svgPath)} from ${values.out}`);
  process.exit(0);
}
const quick = values.quick!;
const list = (s: string | undefined, fallback: number[]) => (s ? s.split(',').map((x) => Number(x.trim())) : fallback);
const sizes = list(values.sizes, quick ? [2000] : [10_000, 100_000]);
const probes = Number(values.probes ?? (quick ? 100 : 300));
const exactProbesLarge = Number(values['exact-probes'] ?? 50);
const workers = list(values.workers, quick ? [1, 2] : [1, 2, 4]);
const uploads = Number(values.uploads ?? (quick ? 40 : 300));
const clients = Number(values.clients ?? 32);
// Uploads under the measured load before the measured window, unmeasured (0: none).
const warmLoadCount = Number(values.warmup ?? (quick ? 0 : 5 * clients));
if (!Number.isInteger(warmLoadCount) || warmLoadCount < 0) throw new Error('--warmup: a whole number of uploads (0: none)');
// Uploads/s moves a few percent between runs of the same code here: the median of several is the figure.
const repeats = Number(values.repeats ?? (quick ? 1 : 3));
// hnsw.ef_search values (HNSW_EF_SEARCH, one API process each) and hnswlib's ef.
const EFS = list(values.ef, [40, 100, 150, 200]);
const database = values.database as 'pglite' | 'native';
if (database !== 'pglite' && database !== 'native') throw new Error('--database: pglite or native');
if (!/^(auto|[1-9][0-9]?)$/.test(values['model-hosts']!)) throw new Error('--model-hosts: auto or a whole number of model hosts per worker');
if (!/^[a-z0-9-]+$/.test(values.section!)) throw new Error('--section: lower-case letters, digits and -');
const HNSWLIB = { m: 16, efConstruction: 64 };
for (const [name, xs] of [
  ['--sizes', sizes],
  ['--workers', workers],
] as const) {
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1)) throw new Error(`${name} takes whole numbers, e.g. 1,2,4`);
}
if (sizes.some((n) => n < 100 || n > 1_000_000)) throw new Error('--sizes: from 100 to 1000000 vectors');
for (const [name, x] of Object.entries({ '--probes': probes, '--exact-probes': exactProbesLarge, '--uploads': uploads, '--clients': clients, '--repeats': repeats })) {
  if (!Number.isInteger(x) || x < 1) throw new Error(`${name} must be a whole number ≥ 1`);
}

const started = Date.now();
const log = (m: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${m}`);
installSignalHandlers();
if (values['cpu-prof']) {
  const dir = path.resolve(values['cpu-prof']);
  await fs.mkdir(dir, { recursive: true });
  profileServicesInto(dir);
}

const cpus = os.cpus();
const machineBefore = { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadAverageBefore: os.loadavg().map((x) => Math.round(x * 100) / 100), node: process.version, platform: `${os.platform()} ${os.release()}` };
const errors: string[] = [];
const modelEnv = {
  MODEL: 'densenet121',
  MODEL_WEIGHTS: 'random',
  MODEL_RUNTIME: 'onnx-cpu',
  MODEL_THREADS: '1',
  // One model host per worker process by default: "N workers" means N model threads. --model-hosts
  // auto is the service's own default (one single-thread host per core in each worker).
  MODEL_HOSTS: values['model-hosts']!,
  // Converted ONNX graphs are cached here (as scripts/eval-quality.ts does), so workers start fast.
  MODEL_CACHE_DIR: path.resolve(ROOT, process.env.MODEL_CACHE_DIR || path.join(process.env.DATA_DIR || '.data', 'models')),
};
log(`bench:load${quick ? ' --quick' : ''}: sizes ${sizes.join(', ')}; ${probes} probes; workers ${workers.join(', ')}; ${uploads} uploads from ${clients} clients, ${repeats} run${repeats > 1 ? 's' : ''} each`);
if (quick) log('quick run: figures are a smoke test, not figures of record');

let exitCode = 0;
const phaseSeconds: Record<string, number> = {};
const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    phaseSeconds[name] = Math.round((Date.now() - t0) / 1000);
  }
};
let search: LoadResults['search'] = null;
let uploadsResult: LoadResults['uploads'] = null;
try {
  if (!values['skip-search']) {
    log('(a) search latency and recall');
    try {
      search = await phase('search', () => runSearch({ sizes, probes, exactProbesLarge, efs: EFS, hnswlib: HNSWLIB, log }));
    } catch (e) {
      errors.push(`search: ${(e as Error).stack ?? e}`);
      log(`search failed: ${(e as Error).message}`);
      exitCode = 1;
    }
  }
  if (!values['skip-uploads']) {
    log('(b) uploads: generating images');
    const warmupCount = Math.max(4, 2 * Math.max(...workers));
    const images = await makeUploadImages(uploads, 10_000);
    const warmup = await makeUploadImages(warmupCount, 90_000);
    const warmLoad = await makeUploadImages(warmLoadCount, 200_000);
    const unloaded = await makeUploadImages(10, 50_000);
    const stored = await storedModelOnlyFigure();
    // The divisor of the target, measured here: before the uploads and after each worker count.
    const meter = new ModelOnlyMeter({ cacheDir: modelEnv.MODEL_CACHE_DIR, imagesPerHost: quick ? 16 : 64, log });
    await phase('model only, before the uploads', () => meter.measure('before the uploads'));
    let configurations: ConfigResult[] = [];
    for (const w of workers) {
      log(`(b) ${w} worker process${w > 1 ? 'es' : ''}`);
      try {
        const runs: ConfigResult[] = [];
        for (let r = 0; r < repeats; r++) {
          if (repeats > 1) log(`  run ${r + 1} of ${repeats}`);
          runs.push(
            await phase(`uploads, ${w} worker${w > 1 ? 's' : ''}${repeats > 1 ? `, run ${r + 1}` : ''}`, () =>
              runUploadConfig(w, { images, warmup, warmLoad, unloaded }, { workers, uploads, clients, modelEnv, database, log }),
            ),
          );
        }
        // The median run stands for the configuration (the lower middle one for an even count); every run's uploads/s is kept.
        const median = [...runs].sort((a, b) => a.uploadsPerSecond - b.uploadsPerSecond)[Math.floor((runs.length - 1) / 2)];
        configurations.push(repeats > 1 ? { ...median, runsUploadsPerSecond: runs.map((x) => x.uploadsPerSecond) } : median);
      } catch (e) {
        errors.push(`uploads with ${w} workers: ${(e as Error).stack ?? e}`);
        log(`uploads with ${w} workers failed: ${(e as Error).message}`);
        exitCode = 1;
      }
      await phase(`model only, after ${w} worker${w > 1 ? 's' : ''}`, () => meter.measure(`after ${w} worker${w > 1 ? 's' : ''}`));
    }
    const reference = meter.reference();
    const ratio = (ups: number, ref: number | null) => (ref ? Math.round((ups / ref) * 1000) / 1000 : null);
    configurations = configurations.map((c) => ({
      ...c,
      ratioToModelOnly: ratio(c.uploadsPerSecond, reference.imagesPerSecond),
      ratioToStoredModelOnly: ratio(c.uploadsPerSecond, stored.imagesPerSecond),
    }));
    const measuredRuns = reference.runs.flatMap((x) => (x.imagesPerSecond === null ? [] : [`${x.imagesPerSecond} (batch ${x.batch}, ${x.when})`]));
    const modelOnly = {
      imagesPerSecond: reference.imagesPerSecond,
      source: `measured in this run: ${reference.way}, ${reference.imagesPerHost} images per host`,
      note: reference.imagesPerSecond === null ? 'the model-only runs failed' : `best of ${measuredRuns.length} runs: ${measuredRuns.join(', ')}`,
    };
    let databaseStatements: DbStatementsResult | null = null;
    // PGlite's own statements, in this process; a native server is measured as a whole above.
    if (database === 'pglite') {
      try {
        // The service's default ef_search: the one its classifications use.
        const efSearch = loadConfig({}).HNSW_EF_SEARCH;
        databaseStatements = await phase('database statements', () => runDbStatements({ storedBefore: uploads, measured: uploads, efSearch, log }));
      } catch (e) {
        errors.push(`database statements: ${(e as Error).stack ?? e}`);
        exitCode = 1;
      }
    }
    uploadsResult = {
      databaseStatements,
      clients,
      uploadsPerConfiguration: uploads,
      warmupUnderLoad: warmLoadCount,
      images: describeImages(images),
      method:
        `closed loop: each client uploads, waits for the classificationReady event of its image, then uploads the next; ${warmLoadCount} unmeasured uploads in the same loop first; service defaults otherwise (WORKER_CONCURRENCY unset: 2 × EMBED_BATCH = 16 jobs held per worker, EMBED_BATCH 8, EMBED_BATCH_WAIT_MS 10, DATABASE_POOL_SIZE 10, LOG_LEVEL info)`,
      modelEnv,
      modelOnly,
      modelOnlyRuns: reference.runs,
      modelOnlyStored: stored,
      configurations,
    };
  }
} finally {
  await cleanupAll();
  killChildren();
}

const targets = computeTargets(search, uploadsResult);

const results: LoadResults = {
  benchmark: 'load',
  quick,
  date: new Date().toISOString(),
  durationSeconds: Math.round((Date.now() - started) / 1000),
  phaseSeconds,
  machine: { ...machineBefore, loadAverageAfter: os.loadavg().map((x) => Math.round(x * 100) / 100) },
  command: `npm run bench:load${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  search,
  uploads: uploadsResult,
  targets,
  errors,
};
const out = path.resolve(ROOT, values.out!);
const mdPath = path.resolve(ROOT, values.md!);
const svgPath = path.resolve(ROOT, values.svg!);
await fs.mkdir(path.dirname(out), { recursive: true });
await fs.writeFile(out, JSON.stringify(results, null, 2) + '\n');
await fs.mkdir(path.dirname(svgPath), { recursive: true });
await fs.writeFile(svgPath, svg(results));
await writeDocsSection(mdPath, markdown(results, path.relative(path.dirname(mdPath), svgPath)), values.section!);
log(`written ${path.relative(ROOT, out)}, ${path.relative(ROOT, mdPath)} (${values.section} section), ${path.relative(ROOT, svgPath)} in ${(results.durationSeconds / 60).toFixed(1)} min`);
for (const t of targets) log(`target: ${t.target} [${t.setting}]: ${t.value ?? '–'} at ${t.at ?? `${t.measuredAt} vectors`}: ${t.pass === null ? `not judged (${t.note})` : t.pass ? 'pass' : 'FAIL'}`);
if (errors.length) log(`${errors.length} error(s): see "errors" in ${path.relative(ROOT, out)}`);
process.exit(exitCode);
