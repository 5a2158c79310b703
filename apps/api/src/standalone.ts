// `npm start`: the embedded default in one process — API + one worker sharing PGlite under
// DATA_DIR, originals on local disk (or MinIO when S3_* is set), and a local redis-server of its
// own unless REDIS_URL is set. With DATABASE_URL set, run apps/api and apps/worker separately instead.
import path from 'node:path';
import { loadConfig } from '@lookalike/shared/config';
import { createInfrastructure, openDatabase } from '@lookalike/shared/infrastructure';
import { startLocalRedis } from '@lookalike/shared/local-redis';
import { createLogger } from '@lookalike/shared/logger';
import { onShutdown } from '@lookalike/shared/shutdown';
import { startWorker } from '@lookalike/worker/app';
import { createEmbedder } from '@lookalike/worker/embedder';
import { startApi } from './app.js';

let config = loadConfig();
const log = createLogger('lookalike', config.LOG_LEVEL);
const redis = config.REDIS_URL ? null : await startLocalRedis(path.join(config.dataDir, 'redis'), { persist: true });
if (redis) {
  config = { ...config, REDIS_URL: redis.url };
  log.info({ url: redis.url }, 'started a local redis-server');
}
const db = await openDatabase(config);
const infra = await createInfrastructure(config, { db });
const embedder = await createEmbedder(config, (m) => log.warn(m));
if (!embedder.info.pretrained) log.warn({ model: embedder.info.id }, 'RANDOM WEIGHTS: vectors prove the plumbing, not quality');
const worker = await startWorker(config, infra, embedder, (m, e) => log.info(e ?? {}, m));
const api = await startApi(config, infra);
log.info({ url: `${api.url}/graphql`, dataDir: config.dataDir, model: embedder.info.id }, 'Lookalike is ready');
if (process.argv.includes('--sample')) {
  // The sample goes in through the API like any client's upload; the server keeps serving meanwhile.
  const { loadSample } = await import('../../../scripts/sample.js');
  loadSample(api.url, 20, (m) => log.info(m)).catch((e: Error) => log.error({ error: e.message }, 'sample load failed'));
}
onShutdown(
  [() => api.close(), () => worker.close(), () => embedder.close(), () => infra.close(), () => db.close(), async () => redis?.stop()],
  (m) => log.info(m),
  config.SHUTDOWN_TIMEOUT_MS + 5000,
);
