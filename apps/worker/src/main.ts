// Composition root of a worker process.
import { PromMetrics } from '@lookalike/shared/adapters/prom-metrics';
import { loadConfig } from '@lookalike/shared/config';
import { createInfrastructure } from '@lookalike/shared/infrastructure';
import { createLogger } from '@lookalike/shared/logger';
import { onShutdown } from '@lookalike/shared/shutdown';
import { startWorker } from './app.js';
import { createEmbedder } from './embedder.js';
import { startWorkerHttpServer } from './http-server.js';

const config = loadConfig();
const log = createLogger('worker', config.LOG_LEVEL);
// The process's one registry: the http server serves it, the worker records into it.
const metrics = new PromMetrics();
// Probes first: liveness answers while the model downloads and warms up; readiness follows warm-up.
const probes =
  config.WORKER_HTTP_PORT === undefined
    ? undefined
    : await startWorkerHttpServer({ port: config.WORKER_HTTP_PORT, host: config.HOST, metrics: config.METRICS ? metrics : undefined });
const infra = await createInfrastructure(config);
const embedder = await createEmbedder(config, (m) => log.warn(m));
if (!embedder.info.pretrained) log.warn({ model: embedder.info.id }, 'RANDOM WEIGHTS: vectors prove the plumbing, not quality');
const worker = await startWorker(config, infra, embedder, (m, e) => log.info(e ?? {}, m), { metrics, logger: log });
probes?.markReady();
log.info({ model: embedder.info, role: worker.role.role }, 'worker taking jobs');
onShutdown(
  [async () => probes?.markStopping(), () => worker.close(), () => embedder.close(), () => infra.close(), async () => probes?.close()],
  (m) => log.info(m),
  config.SHUTDOWN_TIMEOUT_MS + 5000,
);
