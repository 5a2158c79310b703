/**
 * Part (a): similarImages(imageId, k: 5) latency and recall@5 at each size, through GraphQL (API
 * processes over HTTP, one per HNSW_EF_SEARCH), in the database directly (PGlite in this process,
 * the service's own PgVectorIndex SQL), exact (no index), and hnswlib-node in this process.
 */
import path from 'node:path';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import { SqlModelRegistry } from '@lookalike/shared/db/model-registry';
import { checkPgvector, migrate } from '@lookalike/shared/db/migrate';
import { hnswIndexName, PgVectorIndex } from '@lookalike/shared/db/vector-index';
import { freePort } from '@lookalike/shared/local-redis';
import { startPgliteWire, stopPgliteWire } from '../../test/helpers/pglite-wire.js';
import { makeTempDir, memory, onCleanup, type Proc, resetPeak, startRedis, startService } from './procs.js';
import { type LatencySummary, round, summarize } from './stats.js';
import { DEFAULT_SPEC, embeddingsCopyBinary, exactNeighbours, generateVectors, imagesCsv, recallAtK, row, type VectorSet, vectorUuid } from './vectors.js';

/** The id the workers give DenseNet121 with MODEL_WEIGHTS=random, MODEL_SEED=1 and default preprocessing (not pretrained). */
export const MODEL_ID = 'densenet121:random-seed-1';
const DIMENSION = 1024;
const COLLECTION = 'bench-vectors';
const K = 5;
const COPY_CHUNK = 5000;
/** For the index build only (pgvector builds in memory when the graph fits; PGlite's ceiling is 2 GB). */
const BUILD_MAINTENANCE_WORK_MEM = '1GB';
/**
 * PGlite's buffer cache (the service's PGLITE_SHARED_BUFFERS): the 100k index (781 MiB) fits in
 * 1GB. At PGlite's 128MB most index pages of a scan are read through its JavaScript file system
 * (measured here at 100k, ef_search 150, in the database: p50 6.3 → 3.8 ms, p99 14.3 → 6.8 ms).
 */
const SHARED_BUFFERS = '1GB';

export interface SearchOptions {
  sizes: number[];
  probes: number;
  /** Probes for the exact (brute force) series at sizes above 20k, which take ~1 s each. */
  exactProbesLarge: number;
  efs: number[];
  hnswlib: { m: number; efConstruction: number };
  log: (message: string) => void;
}

export interface MethodResult {
  method: string;
  /** graphql: through an API process over HTTP; db: the service's SQL in the database directly; in-process: hnswlib-node. */
  via: 'graphql' | 'db' | 'in-process';
  index: 'hnsw' | 'none' | 'hnswlib';
  efSearch: number | null;
  probes: number;
  latencyMs: LatencySummary;
  recallAt5: number;
}

export interface SizeResult {
  vectors: number;
  insert: { rows: number; seconds: number; rowsPerSecond: number; method: string };
  indexBuildSeconds: number;
  hnswlibBuildSeconds: number | null;
  storage: { tableMiB: number; indexMiB: number };
  plan: { hnsw: string; exact: string };
  methods: MethodResult[];
}

export interface SearchResult {
  model: string;
  dimension: number;
  collection: string;
  vectors: typeof DEFAULT_SPEC & { description: string };
  probes: number;
  k: number;
  /** sharedBuffers: PGlite's shared_buffers for the whole run (absent in runs before it was set: PGlite's 128MB). */
  hnsw: { m: number; efConstruction: number; maintenanceWorkMem: string; sharedBuffers?: string };
  hnswlib: { present: boolean; version: string | null; error?: string; m: number; efConstruction: number };
  sizes: SizeResult[];
  /** GraphQL with no database work: the API's own floor. */
  graphqlFloorMs: LatencySummary | null;
  /** GraphQL requests sent again after a kept-alive socket turned out closed (client side; the time of both attempts counts). */
  graphqlRetries: number;
  memory: { process: string; pid: number; peakMiB: number | null; endMiB: number | null; note?: string }[];
  pgliteWasmHeapMiB: number | null;
}

type Hnswlib = typeof import('hnswlib-node');

async function loadHnswlib(): Promise<{ lib: Hnswlib | null; version: string | null; error?: string }> {
  try {
    const mod = (await import('hnswlib-node')) as Hnswlib & { default?: Hnswlib };
    const lib = (mod.HierarchicalNSW ? mod : mod.default) as Hnswlib;
    if (!lib?.HierarchicalNSW) throw new Error('hnswlib-node loaded but exports no HierarchicalNSW');
    let version: string | null = null;
    try {
      const { createRequire } = await import('node:module');
      version = (createRequire(import.meta.url)('hnswlib-node/package.json') as { version: string }).version;
    } catch {
      /* version unknown */
    }
    return { lib, version };
  } catch (e) {
    return { lib: null, version: null, error: `not present: ${(e as Error).message.split('\n')[0]}` };
  }
}

async function timeSeries<T>(probes: number[], warmup: number, fn: (probe: number) => Promise<T>): Promise<{ latencies: number[]; results: T[] }> {
  // A macrotask first, so sockets closed while the event loop was busy are seen as closed.
  await new Promise((r) => setTimeout(r, 100));
  for (const p of probes.slice(0, warmup)) await fn(p);
  const latencies: number[] = [];
  const results: T[] = [];
  for (const p of probes) {
    const t0 = performance.now();
    results.push(await fn(p));
    latencies.push(performance.now() - t0);
  }
  return { latencies, results };
}

export async function runSearch(opts: SearchOptions): Promise<SearchResult> {
  const { log } = opts;
  const maxSize = Math.max(...opts.sizes);
  const dir = await makeTempDir('lookalike-bench-search-');
  resetPeak(process.pid);

  log(`generating ${maxSize} clustered ${DIMENSION}-d vectors`);
  const set = generateVectors(maxSize, DEFAULT_SPEC);
  // The same probes at every size: stored images spread over the first (smallest) set.
  const first = Math.min(...opts.sizes);
  const stride = Math.max(1, Math.floor(first / opts.probes));
  const probes = Array.from({ length: Math.min(opts.probes, first) }, (_, i) => (i * stride + 3) % first);

  const client = await PGliteClient.open(undefined, { sharedBuffers: SHARED_BUFFERS });
  const forgetClient = onCleanup('PGlite (search)', () => client.close());
  const pg = client.instance;
  await migrate(client);
  await checkPgvector(client);
  await new SqlModelRegistry(client).register({
    id: MODEL_ID,
    dimension: DIMENSION,
    inputSize: 224,
    pretrained: false,
    weightsSource: 'random (seed 1)',
    runtime: 'onnx-cpu (1 thread)',
    preprocessing: { resize: 'bilinear', crop: 'none' },
  });

  let stored = 0;
  const insertTo = async (n: number): Promise<{ rows: number; seconds: number }> => {
    const t0 = performance.now();
    const from = stored;
    for (let a = stored; a < n; a += COPY_CHUNK) {
      const b = Math.min(n, a + COPY_CHUNK);
      await pg.query(
        `COPY images (id, collection, label, status, width, height, content_type, sha256, object_key, size_bytes) FROM '/dev/blob' WITH (FORMAT csv)`,
        [],
        { blob: new Blob([imagesCsv(set, a, b, COLLECTION)]) },
      );
      await pg.query(`COPY image_embeddings (image_id, model, collection, label, embedding) FROM '/dev/blob' WITH (FORMAT binary)`, [], {
        blob: new Blob([embeddingsCopyBinary(set, a, b, MODEL_ID, COLLECTION)]),
      });
    }
    stored = n;
    const seconds = (performance.now() - t0) / 1000;
    await pg.exec('ANALYZE images; ANALYZE image_embeddings');
    return { rows: n - from, seconds };
  };

  // A few rows first, so each API process can run one search (and "prepare" the index it expects);
  // they count in the first size's insert figure.
  const initial = await insertTo(Math.min(1000, first));
  const indexes = new Map(opts.efs.map((ef) => [ef, new PgVectorIndex(client, { efSearch: ef })]));
  const builder = new PgVectorIndex(client, { efSearch: opts.efs[0] });
  await builder.prepare(MODEL_ID, DIMENSION);
  for (const v of indexes.values()) await v.prepare(MODEL_ID, DIMENSION);

  const pgPort = await freePort();
  const wire = await startPgliteWire(pg, pgPort);
  const forgetWire = onCleanup('PGlite wire (search)', () => stopPgliteWire(wire));
  const redis = await startRedis(path.join(dir, 'redis'));
  const apis = new Map<number, Proc & { port: number }>();
  for (const ef of opts.efs) {
    log(`starting an API process with HNSW_EF_SEARCH=${ef}`);
    apis.set(
      ef,
      await startService('api', `api (ef_search ${ef})`, {
        HOST: '127.0.0.1',
        DATA_DIR: path.join(dir, 'data'),
        DATABASE_URL: `postgres://postgres:postgres@127.0.0.1:${pgPort}/postgres`,
        REDIS_URL: redis.url,
        LOG_LEVEL: 'info',
        HNSW_EF_SEARCH: String(ef),
      }),
    );
  }
  let retries = 0;
  const gql = async (port: number, query: string, variables: Record<string, unknown> = {}, retry = true): Promise<any> => {
    let res: Response;
    try {
      res = await fetch(`http://127.0.0.1:${port}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
    } catch (e) {
      // A kept-alive socket the API closed while this process was busy (PGlite runs here, and an
      // index build blocks the event loop): a read-only query, so ask again once, and count it.
      if (retry && /other side closed|ECONNRESET|socket/i.test(String((e as Error & { cause?: Error }).cause?.message ?? ''))) {
        retries++;
        return gql(port, query, variables, false);
      }
      const api = [...apis.values()].find((p) => p.port === port);
      const cause = (e as Error & { cause?: unknown }).cause;
      throw new Error(
        `${(e as Error).message} (${cause instanceof Error ? cause.message : String(cause)}); ${api?.name} ${api?.alive() ? 'alive' : 'exited'}:\n${api?.output().slice(-3000)}`,
      );
    }
    const body = (await res.json()) as { data?: any; errors?: { message: string }[] };
    if (!body.data || body.errors) throw new Error(`GraphQL error: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
    return body.data;
  };
  const SIMILAR = 'query ($id: ID!, $k: Int!) { similarImages(imageId: $id, k: $k) { distance image { id } } }';
  const viaApi = async (ef: number, probe: number): Promise<string[]> => {
    const data = await gql(apis.get(ef)!.port, SIMILAR, { id: vectorUuid(probe), k: K });
    return (data.similarImages as { image: { id: string } }[]).map((n) => n.image.id);
  };
  const viaDb = async (v: PgVectorIndex, probe: number): Promise<string[]> =>
    (await v.nearest({ vector: row(set, probe), model: MODEL_ID, k: K, collection: COLLECTION, excludeImageId: vectorUuid(probe) })).map((h) => h.imageId);

  // Each API prepares (the index exists and is valid: nothing to do) on its first search; then the
  // index goes, so that the exact series below really run with no index.
  for (const ef of opts.efs) await viaApi(ef, probes[0]);
  const floor = await timeSeries(
    Array.from({ length: 200 }, (_, i) => i),
    20,
    () => gql(apis.get(opts.efs[0])!.port, '{ __typename }'),
  );
  await pg.exec(`DROP INDEX ${hnswIndexName(MODEL_ID)}`);

  const hnswlib = await loadHnswlib();
  if (!hnswlib.lib) log(`hnswlib-node ${hnswlib.error}`);
  const sizes: SizeResult[] = [];
  for (const [si, n] of opts.sizes.entries()) {
    log(`${n} vectors: inserting ${n - stored} rows (binary COPY)`);
    const ins = await insertTo(n);
    if (si === 0) {
      ins.rows += initial.rows;
      ins.seconds += initial.seconds;
    }
    log(`  inserted in ${ins.seconds.toFixed(1)} s; exact neighbours of ${probes.length} probes (JS)`);
    const truth = exactNeighbours(set, n, probes, K).map((ids) => ids.map(vectorUuid));
    const methods: MethodResult[] = [];
    const add = (method: string, via: MethodResult['via'], index: MethodResult['index'], ef: number | null, probeList: number[], s: { latencies: number[]; results: string[][] }) => {
      const t = probeList.map((p) => truth[probes.indexOf(p)]);
      const r: MethodResult = { method, via, index, efSearch: ef, probes: probeList.length, latencyMs: summarize(s.latencies), recallAt5: round(recallAtK(s.results, t, K), 4) };
      methods.push(r);
      log(`  ${method}: p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, recall@5 ${r.recallAt5} (${r.probes} probes)`);
    };

    // Exact: no index on the table at all (a sequential scan and a top-5 sort).
    const exactProbes = n > 20_000 ? probes.slice(0, Math.min(opts.exactProbesLarge, probes.length)) : probes;
    const anyIndex = indexes.get(opts.efs[0])!;
    const { sql, params } = anyIndex.nearestSql({ vector: row(set, probes[0]), model: MODEL_ID, k: K, collection: COLLECTION, excludeImageId: vectorUuid(probes[0]) });
    const exactPlan = await explain(pg, sql, params);
    add('exact (no index), in the database', 'db', 'none', null, exactProbes, await timeSeries(exactProbes, 2, (p) => viaDb(anyIndex, p)));
    add('exact (no index), GraphQL', 'graphql', 'none', null, exactProbes, await timeSeries(exactProbes, 2, (p) => viaApi(opts.efs[0], p)));

    log(`  building the HNSW index (m 16, ef_construction 64, maintenance_work_mem ${BUILD_MAINTENANCE_WORK_MEM})`);
    await pg.exec(`SET maintenance_work_mem = '${BUILD_MAINTENANCE_WORK_MEM}'`);
    const b0 = performance.now();
    await builder.prepare(MODEL_ID, DIMENSION);
    const indexBuildSeconds = (performance.now() - b0) / 1000;
    await pg.exec('RESET maintenance_work_mem');
    log(`  HNSW index built in ${indexBuildSeconds.toFixed(1)} s`);
    const [sizesRow] = (
      await pg.query<{ t: string; i: string }>(`SELECT pg_total_relation_size('image_embeddings') AS t, pg_relation_size('${hnswIndexName(MODEL_ID)}') AS i`)
    ).rows;
    const hnswPlan = await pg.transaction(async (tx) => {
      await tx.query(`SET LOCAL hnsw.ef_search = ${opts.efs[0]}`);
      await tx.query('SET LOCAL hnsw.iterative_scan = relaxed_order');
      return explain(tx, sql, params);
    });

    for (const ef of opts.efs) {
      add(`HNSW ef_search ${ef}, in the database`, 'db', 'hnsw', ef, probes, await timeSeries(probes, 10, (p) => viaDb(indexes.get(ef)!, p)));
    }
    for (const ef of opts.efs) {
      add(`HNSW ef_search ${ef}, GraphQL`, 'graphql', 'hnsw', ef, probes, await timeSeries(probes, 10, (p) => viaApi(ef, p)));
    }

    let hnswlibBuildSeconds: number | null = null;
    if (hnswlib.lib) {
      log(`  hnswlib-node: building (m ${opts.hnswlib.m}, ef_construction ${opts.hnswlib.efConstruction}) over ${n} vectors`);
      const index = new hnswlib.lib.HierarchicalNSW('cosine', DIMENSION);
      index.initIndex(n, opts.hnswlib.m, opts.hnswlib.efConstruction, 100);
      const h0 = performance.now();
      for (let i = 0; i < n; i++) index.addPoint(Array.from(row(set, i)), i);
      hnswlibBuildSeconds = (performance.now() - h0) / 1000;
      log(`  hnswlib-node index built in ${hnswlibBuildSeconds.toFixed(1)} s`);
      const query = (p: number) => {
        // k + 1 and the probe itself dropped: the same as the service's "itself excluded".
        const res = index.searchKnn(Array.from(row(set, p)), K + 1);
        return Promise.resolve(res.neighbors.filter((id) => id !== p).slice(0, K).map(vectorUuid));
      };
      for (const ef of opts.efs) {
        index.setEf(ef);
        add(`hnswlib-node ef ${ef}, in-process`, 'in-process', 'hnswlib', ef, probes, await timeSeries(probes, 10, query));
      }
    }
    sizes.push({
      vectors: n,
      insert: { rows: ins.rows, seconds: round(ins.seconds), rowsPerSecond: Math.round(ins.rows / ins.seconds), method: `binary COPY into images + image_embeddings, ${COPY_CHUNK} rows a statement, no HNSW index present` },
      indexBuildSeconds: round(indexBuildSeconds),
      hnswlibBuildSeconds: hnswlibBuildSeconds === null ? null : round(hnswlibBuildSeconds),
      storage: { tableMiB: round(Number(sizesRow.t) / 2 ** 20, 1), indexMiB: round(Number(sizesRow.i) / 2 ** 20, 1) },
      plan: { hnsw: hnswPlan, exact: exactPlan },
      methods,
    });
    // The next size inserts without the index and builds it again over all rows.
    if (si < opts.sizes.length - 1) await pg.exec(`DROP INDEX ${hnswIndexName(MODEL_ID)}`);
  }

  const mem = [
    { process: 'DB host (this script: PGlite in memory, plus the benchmark\u2019s vectors and hnswlib-node index)', pid: process.pid },
    ...[...apis.entries()].map(([ef, p]) => ({ process: `API (HNSW_EF_SEARCH ${ef})`, pid: p.pid })),
    { process: 'redis-server', pid: redis.proc.pid },
  ].map((p) => {
    const m = memory(p.pid);
    return { ...p, peakMiB: m.peakMiB, endMiB: m.rssMiB };
  });
  let wasm: number | null = null;
  try {
    const mod = (pg as unknown as { Module?: { wasmMemory?: { buffer: ArrayBuffer } } }).Module;
    wasm = mod?.wasmMemory ? round(mod.wasmMemory.buffer.byteLength / 2 ** 20, 0) : null;
  } catch {
    wasm = null;
  }

  // Free the database (and its memory) before the upload runs.
  for (const p of apis.values()) await p.stop();
  await redis.proc.stop();
  forgetWire();
  await stopPgliteWire(wire).catch(() => {});
  forgetClient();
  await client.close();
  return {
    model: MODEL_ID,
    dimension: DIMENSION,
    collection: COLLECTION,
    vectors: {
      ...DEFAULT_SPEC,
      description:
        'x = g + c_k + spread·B_k·z + noise·ε, L2-normalised: g shared by all, c_k one of `clusters` centres, B_k a random basis of `intrinsicDimension` directions per cluster (mean cosine ≈ 0.79 within a cluster, ≈ 0.39 across)',
    },
    probes: probes.length,
    k: K,
    hnsw: { m: 16, efConstruction: 64, maintenanceWorkMem: BUILD_MAINTENANCE_WORK_MEM, sharedBuffers: SHARED_BUFFERS },
    hnswlib: { present: hnswlib.lib !== null, version: hnswlib.version, ...(hnswlib.error ? { error: hnswlib.error } : {}), ...opts.hnswlib },
    sizes,
    graphqlFloorMs: summarize(floor.latencies),
    graphqlRetries: retries,
    memory: mem,
    pgliteWasmHeapMiB: wasm,
  };
}

async function explain(db: { query: (sql: string, params?: any[]) => Promise<any> }, sql: string, params: unknown[]): Promise<string> {
  const res = await db.query(`EXPLAIN ${sql}`, params as any[]);
  const rows: Record<string, string>[] = Array.isArray(res) ? res : res.rows;
  const lines = rows.map((r) => Object.values(r)[0]);
  // The scan node inside the CTE is what matters: Index Scan using … or Seq Scan on ….
  const scan = lines.find((l) => /Index Scan|Seq Scan/.test(l)) ?? lines.join(' | ');
  return scan.replace(/^\s*->\s*/, '').replace(/\s*\(cost=.*$/, '').trim();
}

export type { VectorSet };
