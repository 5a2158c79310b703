import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsSource } from '@lookalike/shared/metrics';

/**
 * starting: the model loads and warms up, the BullMQ worker is not taking jobs yet.
 * ready: warmed up and taking jobs. stopping: SIGTERM came; finishing the batch, taking no more.
 */
export type WorkerHealthState = 'starting' | 'ready' | 'stopping';

export interface WorkerHttpServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  /**
   * Asked on every /readyz while the state is `ready` (e.g. that the BullMQ worker still runs);
   * false or a throw answers 503. Kept cheap: probes come every few seconds.
   */
  check?: () => boolean | Promise<boolean>;
  /** GET /metrics answers with what it renders (Prometheus text); left out, /metrics is 404. */
  metrics?: MetricsSource;
}

export interface WorkerHttpServer {
  readonly port: number;
  readonly url: string;
  readonly state: WorkerHealthState;
  /** Call once the model has warmed up and the BullMQ worker runs. */
  markReady(): void;
  /** Call first thing on SIGTERM: /readyz answers 503 from then on, /healthz still 200. */
  markStopping(): void;
  close(): Promise<void>;
}

/**
 * The worker's probe endpoints for Kubernetes and Docker health checks, on a port of their own
 * (the worker serves nothing else). GET /healthz: the process and its event loop answer (liveness).
 * GET /readyz: 200 only once the model is warm and jobs are taken, 503 while starting or stopping.
 * GET /metrics: Prometheus text, in every state (a worker warming up or draining is worth watching).
 */
export async function startWorkerHttpServer(options: WorkerHttpServerOptions): Promise<WorkerHttpServer> {
  let state: WorkerHealthState = 'starting';
  const startedAt = Date.now();

  const server = http.createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { status: 'error' });
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const route = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(res, 405, { error: 'method not allowed' });
      return;
    }
    if (route === '/healthz') {
      send(res, 200, { status: 'alive', state, uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) });
      return;
    }
    if (route === '/readyz') {
      if (state !== 'ready') {
        send(res, 503, { status: state });
        return;
      }
      const ok = options.check ? await Promise.resolve().then(options.check).catch(() => false) : true;
      // The state may have changed while the check ran.
      const ready = ok && (state as WorkerHealthState) === 'ready';
      send(res, ready ? 200 : 503, { status: ready ? 'ready' : ok ? state : 'not-running' });
      return;
    }
    if (route === '/metrics' && options.metrics) {
      const body = await options.metrics.render();
      res.writeHead(200, { 'content-type': options.metrics.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    send(res, 404, { error: 'not found' });
  }

  function send(res: http.ServerResponse, status: number, body: Record<string, unknown>): void {
    const json = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(json) });
    res.end(res.req.method === 'HEAD' ? undefined : json);
  }

  // Probes must not be the reason a stopping process stays alive.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  const port = (server.address() as AddressInfo).port;
  const host = options.host ?? '0.0.0.0';

  return {
    port,
    url: `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`,
    get state() {
      return state;
    },
    markReady() {
      if (state === 'starting') state = 'ready';
    },
    markStopping() {
      state = 'stopping';
    },
    async close() {
      state = 'stopping';
      if (!server.listening) return;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
