import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startApi } from '@lookalike/api/app';
import { PromMetrics } from '@lookalike/shared/adapters/prom-metrics';
import { type Config, loadConfig } from '@lookalike/shared/config';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import type { SqlClient } from '@lookalike/shared/db/sql-client';
import { createInfrastructure, type Infrastructure, openDatabase } from '@lookalike/shared/infrastructure';
import { startLocalRedis, type LocalRedis } from '@lookalike/shared/local-redis';
import type { Embedder } from '@lookalike/shared/ports';
import { type RunningWorker, startWorker, type WorkerOptions } from '@lookalike/worker/app';
import { createEmbedder } from '@lookalike/worker/embedder';
import { startWorkerHttpServer, type WorkerHttpServer } from '@lookalike/worker/http-server';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface TestService {
  url: string;
  config: Config;
  infra: Infrastructure;
  db: SqlClient;
  redis: LocalRedis;
  embedder: Embedder;
  /** The worker's probe and /metrics server, when `WORKER_HTTP_PORT` is in `env` ('0': a free port). */
  workerHttp?: WorkerHttpServer;
  /**
   * Stops the worker and starts another with `env` on top of the first config (a new model, say);
   * `wrap` may decorate its embedder (slow it down); `options` may give it a logger. Resolves once the new worker takes jobs.
   */
  replaceWorker(env: Record<string, string>, wrap?: (e: Embedder) => Embedder, options?: WorkerOptions): Promise<RunningWorker>;
  gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: any[] }>;
  upload<T = any>(query: string, variables: Record<string, unknown>, file: { field: string; bytes: Buffer; name?: string }): Promise<{ data?: T; errors?: any[] }>;
  ws(): Client;
  stop(): Promise<void>;
}

/** The whole service in this process: real redis-server, PGlite + pgvector in memory, real worker. */
export async function startTestService(env: Record<string, string> = {}): Promise<TestService> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-test-'));
  const redis = await startLocalRedis(path.join(dataDir, 'redis'));
  const config = loadConfig({ MODEL: 'tiny', PORT: '0', HOST: '127.0.0.1', DATA_DIR: dataDir, REDIS_URL: redis.url, LOG_LEVEL: 'silent', JOB_BACKOFF_MS: '50', ...env });
  const db = await openDatabase(config, config.DATABASE_URL ? undefined : await PGliteClient.open());
  const infra = await createInfrastructure(config, { db });
  let embedder = await createEmbedder(config);
  // One registry for the worker side, as in a worker process; replaced workers record into it too.
  const workerMetrics = new PromMetrics();
  let worker = await startWorker(config, infra, embedder, () => {}, { metrics: workerMetrics });
  const workerHttp =
    config.WORKER_HTTP_PORT === undefined
      ? undefined
      : await startWorkerHttpServer({ port: config.WORKER_HTTP_PORT, host: config.HOST, metrics: config.METRICS ? workerMetrics : undefined });
  workerHttp?.markReady();
  const api = await startApi(config, infra);
  const clients: Client[] = [];
  const endpoint = `${api.url}/graphql`;
  return {
    url: api.url,
    config,
    infra,
    db,
    redis,
    get embedder() {
      return embedder;
    },
    workerHttp,
    async replaceWorker(extra, wrap = (e) => e, options = {}) {
      await worker.close();
      await embedder.close();
      const next = loadConfig({ ...Object.fromEntries(Object.entries(config).filter(([k, v]) => /^[A-Z_]+$/.test(k) && v !== undefined).map(([k, v]) => [k, String(v)])), ...extra });
      embedder = wrap(await createEmbedder(next));
      worker = await startWorker(next, infra, embedder, () => {}, { metrics: workerMetrics, ...options });
      return worker;
    },
    async gql(query, variables) {
      const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return res.json() as Promise<any>;
    },
    async upload(query, variables, file) {
      // The GraphQL multipart request spec, as curl -F would send it.
      const form = new FormData();
      form.append('operations', JSON.stringify({ query, variables: { ...variables, [file.field]: null } }));
      form.append('map', JSON.stringify({ 0: [`variables.${file.field}`] }));
      form.append('0', new Blob([file.bytes]), file.name ?? 'upload.bin');
      const res = await fetch(endpoint, { method: 'POST', headers: { 'apollo-require-preflight': 'true' }, body: form });
      return res.json() as Promise<any>;
    },
    ws() {
      const client = createClient({ url: endpoint.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const c of clients) await c.dispose();
      await api.close();
      await worker.close();
      await embedder.close();
      await workerHttp?.close();
      await infra.close();
      await db.close();
      await redis.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first `n` results of a subscription. */
export function subscribeFor<T>(client: Client, query: string, variables: Record<string, unknown>, n = 1, timeoutMs = 60_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const results: T[] = [];
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`subscription timed out after ${results.length} of ${n} results`));
    }, timeoutMs);
    const dispose = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            dispose();
            reject(new Error(JSON.stringify(value.errors)));
            return;
          }
          results.push(value.data as T);
          if (results.length === n) {
            clearTimeout(timer);
            dispose();
            resolve(results);
          }
        },
        error: (e) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(JSON.stringify(e)));
        },
        complete: () => {},
      },
    );
  });
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const started = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every result of a subscription until the server completes it. */
export function collectUntilComplete<T>(client: Client, query: string, variables: Record<string, unknown>, timeoutMs = 60_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const results: T[] = [];
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`subscription not complete after ${timeoutMs} ms (${results.length} results)`));
    }, timeoutMs);
    const dispose = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => {
          if (value.errors) {
            clearTimeout(timer);
            dispose();
            reject(new Error(JSON.stringify(value.errors)));
          } else results.push(value.data as T);
        },
        error: (e) => {
          clearTimeout(timer);
          reject(e instanceof Error ? e : new Error(JSON.stringify(e)));
        },
        complete: () => {
          clearTimeout(timer);
          resolve(results);
        },
      },
    );
  });
}
