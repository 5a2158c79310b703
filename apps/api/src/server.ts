import { readFileSync } from 'node:fs';
import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { expressMiddleware } from '@as-integrations/express5';
import { makeExecutableSchema } from '@graphql-tools/schema';
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
}

/** GraphQL over HTTP (Apollo, multipart uploads) and WebSocket (graphql-ws) on one port and path. */
export async function startApiServer(deps: ApiDeps, options: ApiServerOptions): Promise<ApiServer> {
  const schema = makeExecutableSchema({ typeDefs, resolvers: createResolvers(deps) });
  const app = express();
  const httpServer = http.createServer(app);
  const wsServer = new WebSocketServer({ server: httpServer, path: '/graphql' });
  const wsCleanup = useServer({ schema }, wsServer);
  const apollo = new ApolloServer({
    schema,
    // CSRF prevention stays on: upload clients send `apollo-require-preflight: true`.
    csrfPrevention: true,
    // Our composition root owns shutdown order; Apollo's own handler would re-raise the signal.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer }),
      { async serverWillStart() { return { async drainServer() { await wsCleanup.dispose(); } }; } },
    ],
  });
  await apollo.start();

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
  app.use(
    '/graphql',
    cors(),
    // One byte over the limit lets our own check name the limit in its message.
    graphqlUploadExpress({ maxFileSize: deps.maxUploadBytes + 1, maxFiles: 1 }),
    express.json({ limit: '1mb' }),
    expressMiddleware(apollo),
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
