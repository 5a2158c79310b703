import path from 'node:path';
import { PromMetrics } from '@lookalike/shared/adapters/prom-metrics';
import { type Config, PGLITE_SHARED_BUFFERS_MAX_MB } from '@lookalike/shared/config';
import type { SqlClient } from '@lookalike/shared/db/sql-client';
import { PGLITE_AUTO_MAX_MB } from '@lookalike/shared/db/pglite-buffers';
import { hnswIndexesBeyondSharedBuffers } from '@lookalike/shared/db/vector-index';
import { createInfrastructure, type Infrastructure, openDatabase } from '@lookalike/shared/infrastructure';
import { type LocalRedis, startLocalRedis } from '@lookalike/shared/local-redis';
import type { Embedder } from '@lookalike/shared/ports';
import { type LogFn, type RunningWorker, startWorker } from '@lookalike/worker/app';
import { createEmbedder } from '@lookalike/worker/embedder';
import { startApi } from './app.js';

export interface AllInOne {
  url: string;
  config: Config;
  infra: Infrastructure;
  embedder: Embedder;
  worker: RunningWorker;
  close(): Promise<void>;
}

/**
 * API + one worker in this process on one database: `npm start` (PGlite under DATA_DIR) and the
 * evaluation scripts (PGlite in memory). Starts a local redis-server unless REDIS_URL is set.
 */
export async function startAllInOne(
  base: Config,
  options: { db?: SqlClient; persistRedis?: boolean; log?: LogFn; warn?: (message: string) => void } = {},
): Promise<AllInOne> {
  const log = options.log ?? (() => {});
  let redis: LocalRedis | null = null;
  let config = base;
  if (!config.REDIS_URL) {
    redis = await startLocalRedis(path.join(config.dataDir, 'redis'), { persist: options.persistRedis ?? false });
    config = { ...config, REDIS_URL: redis.url };
    log('started a local redis-server', { url: redis.url });
  }
  const db = await openDatabase(config, options.db, log);
  if (!options.db && !config.DATABASE_URL) {
    const beyond = await hnswIndexesBeyondSharedBuffers(db);
    if (beyond) options.warn?.(beyondSharedBuffersWarning(beyond, config.PGLITE_SHARED_BUFFERS));
  }
  const infra = await createInfrastructure(config, { db });
  const embedder = await createEmbedder(config, options.warn);
  // One registry for the process: the API's /metrics shows the worker's batches too.
  const metrics = new PromMetrics();
  const worker = await startWorker(config, infra, embedder, log, { metrics });
  const api = await startApi(config, infra, { metrics });
  return {
    url: api.url,
    config,
    infra,
    embedder,
    worker,
    async close() {
      // Every step runs even when one fails: a half-closed process must not keep redis-server alive.
      const errors: unknown[] = [];
      for (const step of [() => api.close(), () => worker.close(), () => embedder.close(), () => infra.close(), () => db.close(), async () => redis?.stop()]) {
        await step().catch((e: unknown) => errors.push(e));
      }
      if (errors.length > 0) throw errors[0];
    },
  };
}

/** What to tell the operator of an embedded PGlite whose HNSW indexes do not fit its buffer cache. */
export function beyondSharedBuffersWarning(beyond: { indexesMiB: number; sharedBuffersMiB: number }, setting: string): string {
  const what =
    `PGlite's HNSW indexes (${beyond.indexesMiB} MiB) do not fit in its buffer cache (${beyond.sharedBuffersMiB} MiB, PGLITE_SHARED_BUFFERS=${setting}): ` +
    'searches read index pages through JavaScript and take about twice as long.';
  const needMB = Math.ceil(beyond.indexesMiB);
  if (needMB >= PGLITE_SHARED_BUFFERS_MAX_MB) return `${what} That is more than PGlite can hold (at most ${PGLITE_SHARED_BUFFERS_MAX_MB}MB): use PostgreSQL (DATABASE_URL).`;
  if (setting === 'auto') return `${what} auto stops at ${PGLITE_AUTO_MAX_MB}MB: set PGLITE_SHARED_BUFFERS above ${needMB}MB (at most ${PGLITE_SHARED_BUFFERS_MAX_MB}MB), or use PostgreSQL (DATABASE_URL).`;
  return `${what} Set PGLITE_SHARED_BUFFERS to auto or above ${needMB}MB (at most ${PGLITE_SHARED_BUFFERS_MAX_MB}MB), or use PostgreSQL (DATABASE_URL).`;
}
