// Composition root of the API process (production: DATABASE_URL, REDIS_URL, S3_* set).
import { loadConfig } from '@lookalike/shared/config';
import { createInfrastructure } from '@lookalike/shared/infrastructure';
import { createLogger } from '@lookalike/shared/logger';
import { onShutdown } from '@lookalike/shared/shutdown';
import { startApi } from './app.js';

const config = loadConfig();
const log = createLogger('api', config.LOG_LEVEL);
const infra = await createInfrastructure(config);
const api = await startApi(config, infra, { log });
log.info({ url: `${api.url}/graphql` }, 'API listening');
onShutdown([() => api.close(), () => infra.close()], (m) => log.info(m), config.SHUTDOWN_TIMEOUT_MS + 5000);
