import os from 'node:os';
import path from 'node:path';
import { RedisEventBus } from '@lookalike/shared/adapters/redis-event-bus';
import { freePort, startLocalRedis } from '@lookalike/shared/local-redis';
import { createRedis } from '@lookalike/shared/queue/redis';

export interface RestartableRedis {
  stop(): Promise<void>;
  start(): Promise<void>;
}

/**
 * A bus on a redis-server of its own, which `fn` may stop and start again (same port, same data).
 * The bus is wired as the processes wire it (infrastructure.ts): clients that wait out an outage.
 */
export async function withRestartableRedis(name: string, fn: (bus: RedisEventBus, redis: RestartableRedis) => Promise<void>): Promise<void> {
  const port = await freePort();
  const dir = path.join(os.tmpdir(), `lookalike-${name}-restart-${process.pid}`);
  let server = await startLocalRedis(dir, { port });
  const url = `redis://127.0.0.1:${port}`;
  const bus = new RedisEventBus(createRedis(url, 'blocking'), createRedis(url, 'blocking'));
  try {
    await fn(bus, {
      stop: () => server.stop(),
      start: async () => void (server = await startLocalRedis(dir, { port })),
    });
  } finally {
    await bus.close();
    await server.stop();
  }
}
