// `npm start`: the embedded default in one process — API + one worker sharing PGlite under
// DATA_DIR, originals on local disk (or MinIO when S3_* is set), and a local redis-server of its
// own unless REDIS_URL is set. With DATABASE_URL set, run apps/api and apps/worker separately instead.
import { loadConfig } from '@lookalike/shared/config';
import { createLogger } from '@lookalike/shared/logger';
import { onShutdown } from '@lookalike/shared/shutdown';
import { startAllInOne } from './all-in-one.js';

const config = loadConfig();
const log = createLogger('lookalike', config.LOG_LEVEL);
const service = await startAllInOne(config, { persistRedis: true, log: (m, e) => log.info(e ?? {}, m), warn: (m) => log.warn(m) });
const model = service.embedder.info;
if (!model.pretrained) log.warn({ model: model.id }, 'RANDOM WEIGHTS: vectors prove the plumbing, not quality');
log.info({ url: `${service.url}/graphql`, dataDir: config.dataDir, model: model.id }, 'Lookalike is ready');
if (process.argv.includes('--sample')) {
  // The sample goes in through the API like any client's upload; the server keeps serving meanwhile.
  const { loadSample } = await import('../../../scripts/sample.js');
  loadSample(service.url, 20, (m) => log.info(m)).catch((e: Error) => log.error({ error: e.message }, 'sample load failed'));
}
onShutdown([() => service.close()], (m) => log.info(m), config.SHUTDOWN_TIMEOUT_MS + 5000);
