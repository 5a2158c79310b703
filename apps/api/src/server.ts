import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
import type { Logger } from '@lookalike/shared/logger';
import type { MetricsSource } from '@lookalike/shared/metrics';
import { requestIdFrom, runWithContext } from '@lookalike/shared/request-context';
import cors from 'cors';
import express from 'express';
import graphqlUploadExpress from 'graphql-upload/graphqlUploadExpress.mjs';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { type ApiDeps, createResolvers } from './resolvers.js';

const typeDefs = readFileSync(new URL('./schema.graphql', import.meta.url), 'utf8');

export interface ApiServer {
  httpServer: http.Server;
  url: string;
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  host: string;
  port: number;
  /** /healthz answers 200 only once this says so. */
  isReady: () => Promise<boolean>;
  /** Streams an original for Image.url. */
  readOriginal: (imageId: string) => Promise<{ bytes: Buffer; contentType: string } | null>;
  /** One line per request (and per GraphQL error), each with its requestId. */
  log: Logger;
  /** GET /metrics serves what it renders (Prometheus text); left out, there is no /metrics. */
  metrics?: MetricsSource;
  /** Mounted as it is at `path` (the Bull Board job dashboard); left out, nothing answers there. */
  dashboard?: { path: string; handler: express.RequestHandler };
  /** How long stop() lets requests in flight finish (uploads included) before it cuts them. */
  drainMs?: number;
}

/** Routes probed or polled every few seconds: their lines go at debug level. */
const QUIET = new Set(['/healthz', '/metrics']);

interface GraphQLContext {
  requestId: string;
  res?: express.Response;
}

/** GraphQL over HTTP (Apollo, multipart uploads) and WebSocket (graphql-ws) on one port and path. */
export async function startApiServer(deps: ApiDeps, options: ApiServerOptions): Promise<ApiServer> {
  const schema = makeExecutableSchema({ typeDefs, resolvers: createResolvers(deps) });
  const app = express();
  const httpServer = http.createServer(app);
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const wsCleanup = useServer({ schema }, wsServer);
  const apollo = new ApolloServer<GraphQLContext>({
    schema,
    // CSRF prevention stays on: upload clients send `apollo-require-preflight: true`.
    csrfPrevention: true,
    // Our composition root owns shutdown order; Apollo's own handler would re-raise the signal.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: options.drainMs ?? 10_000 }),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
      {
        // Which operation a request ran, for its request line; errors that are not the client's, with the requestId.
        async requestDidStart({ contextValue }) {
          return {
            async didResolveOperation({ request, operation }) {
              const res = contextValue.res;
              if (res) res.locals.operation = request.operationName ?? operation?.name?.value ?? operation?.operation;
            },
            async didEncounterErrors({ errors }) {
              const serverSide = errors.filter((e) => e.extensions?.code === undefined || e.extensions.code === 'INTERNAL_SERVER_ERROR');
              for (const e of serverSide) options.log.error({ requestId: contextValue.requestId, error: e.message, path: e.path }, 'GraphQL error');
            },
          };
        },
      },
    ],
  });
  await apollo.start();

  const dashboardPath = options.dashboard?.path;
  const quiet = (path: string) => QUIET.has(path) || (dashboardPath !== undefined && (path === dashboardPath || path.startsWith(`${dashboardPath}/`)));
  // Every request gets an id: the client's x-request-id when it sent a sane one, else a new UUID. It
  // comes back in the response header, is on the request's log line, and rides along in the data of
  // every job the request enqueues (the queue adapter reads it from the request context).
  app.use((req, res, next) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    const started = performance.now();
    // Read now: routers mounted on a path rewrite req.url while they run.
    const path = req.path;
    res.on('finish', () => {
      const line = {
        requestId,
        method: req.method,
        path,
        status: res.statusCode,
        durationMs: Math.round(performance.now() - started),
        ...(res.locals.operation ? { operation: res.locals.operation } : {}),
      };
      if (res.statusCode >= 500) options.log.warn(line, 'request');
      else if (quiet(path)) options.log.debug(line, 'request');
      else options.log.info(line, 'request');
    });
    runWithContext({ requestId }, next);
  });

  app.get('/healthz', async (_req, res) => {
    const ready = await options.isReady().catch(() => false);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ok' : 'starting', model: await deps.activeModel().catch(() => null) });
  });
  app.get('/images/:id/original', async (req, res) => {
    const original = await options.readOriginal(req.params.id).catch(() => null);
    if (!original) {
      res.status(404).json({ error: 'No such image' });
      return;
    }
    res.type(original.contentType).send(original.bytes);
  });
  if (options.metrics) {
    const metrics = options.metrics;
    app.get('/metrics', async (_req, res) => {
      const body = await metrics.render();
      res.set('cache-control', 'no-store').type(metrics.contentType).send(body);
    });
  }
  if (options.dashboard) app.use(options.dashboard.path, options.dashboard.handler);
  app.use(
    '/graphql',
    cors({ exposedHeaders: ['x-request-id'] }),
    // One byte over the limit lets our own check name the limit in its message.
    graphqlUploadExpress({ maxFileSize: deps.maxUploadBytes + 1, maxFiles: 1 }),
    express.json({ limit: '1mb' }),
    // Apollo runs in the request's context whatever the body parsers' stream callbacks did with it:
    // the queue adapter reads the requestId from there.
    (_req, res, next) => runWithContext({ requestId: res.locals.requestId as string }, next),
    expressMiddleware(apollo, { context: async ({ res }) => ({ requestId: res.locals.requestId as string, res }) }),
  );

  await new Promise<void>((resolve) => httpServer.listen(options.port, options.host, resolve));
  const address = httpServer.address() as { port: number };
  return {
    httpServer,
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${address.port}`,
    async stop() {
      await apollo.stop();
    },
  };
}
