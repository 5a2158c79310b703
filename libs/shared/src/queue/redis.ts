import { Redis, type RedisOptions } from 'ioredis';

/**
 * `blocking`: for BullMQ workers and subscribers, which must wait out a Redis restart instead of
 * failing commands (BullMQ requires maxRetriesPerRequest null there). Producers fail fast instead,
 * so an upload during an outage gets an error rather than hanging.
 */
export function createRedis(url: string, role: 'blocking' | 'producer', extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'blocking' ? null : 2,
    enableOfflineQueue: role === 'blocking',
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...extra,
  });
}

/** Waits until the client is connected, or fails with a message that names the URL. */
export async function waitForRedis(redis: Redis, url: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      if (redis.status === 'ready' && (await redis.ping()) === 'PONG') return;
    } catch {
      // not yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`Redis at ${url} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
