import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { type LocalRedis, startLocalRedis } from '../local-redis.js';
import { SUBSCRIPTION_GAP } from '../ports.js';
import { withRestartableRedis } from '../../../../test/helpers/restartable-redis.js';
import { RedisEventBus } from './redis-event-bus.js';

// The event bus on a real redis-server: what "subscribed" means, buffering, and unsubscribing.
let redis: LocalRedis;
let bus: RedisEventBus;
let admin: Redis;

before(async () => {
  redis = await startLocalRedis(path.join(os.tmpdir(), `lookalike-bus-${process.pid}`));
  bus = new RedisEventBus(new Redis(redis.url), new Redis(redis.url));
  admin = new Redis(redis.url);
});

after(async () => {
  await bus.close();
  admin.disconnect();
  await redis.stop();
});

const subscribers = async (channel: string) => Number(((await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);

test('once subscribe resolves, Redis has the subscription: events published before the first next() are kept, in order', async () => {
  const events = await bus.subscribeClassificationReady();
  assert.equal(await subscribers('lookalike.classificationReady'), 1);
  await bus.publishClassificationReady({ imageId: 'a', collection: 'c' });
  await bus.publishClassificationReady({ imageId: 'b', collection: 'c' });
  assert.deepEqual((await events.next()).value, { imageId: 'a', collection: 'c' });
  assert.deepEqual((await events.next()).value, { imageId: 'b', collection: 'c' });
  await events.return?.();
});

test('re-embedding progress is subscribed the same way', async () => {
  const events = await bus.subscribeReembeddingProgress();
  await bus.publishReembeddingProgress({ reembeddingId: 'r1' });
  assert.deepEqual((await events.next()).value, { reembeddingId: 'r1' });
  await events.return?.();
});

test('return() ends a pending next(), and the last subscriber leaving unsubscribes in Redis', async () => {
  const first = await bus.subscribeClassificationReady();
  const second = await bus.subscribeClassificationReady();
  const pending = first.next();
  await first.return?.();
  assert.deepEqual(await pending, { done: true, value: undefined });
  assert.deepEqual(await first.next(), { done: true, value: undefined }, 'stays done');
  await first.return?.(); // a second return() is harmless
  // The other subscriber still gets events.
  await bus.publishClassificationReady({ imageId: 'x', collection: 'c' });
  assert.equal((await second.next()).value?.imageId, 'x');
  await second.return?.();
  for (let i = 0; i < 50 && (await subscribers('lookalike.classificationReady')) > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await subscribers('lookalike.classificationReady'), 0);
});

test('an event with a result gets its dates back; the user metadata stays as sent', async () => {
  const events = await bus.subscribeClassificationReady();
  const at = new Date('2026-01-02T03:04:05.678Z');
  const image = {
    id: 'i', collection: 'c', label: null, status: 'READY' as const, error: null, width: 1, height: 1, contentType: 'image/png',
    sha256: 's', objectKey: 'k', sizeBytes: 1, metadata: { updatedAt: 'stays a string' }, createdAt: at, updatedAt: at,
  };
  const classification = { imageId: 'i', label: 'cat', confidence: 1, neighbors: [], model: 'm', createdAt: at };
  await bus.publishClassificationReady({ imageId: 'i', collection: 'c', result: { classification, image } });
  const got = (await events.next()).value!;
  assert.deepEqual(got.result, { classification, image });
  assert.ok(got.result!.image.updatedAt instanceof Date);
  await events.return?.();
});

test('after Redis restarts, every open subscription gets a gap mark, then the events published since', async () => {
  await withRestartableRedis('bus', async (restartBus, server) => {
    const classified = await restartBus.subscribeClassificationReady();
    const progress = await restartBus.subscribeReembeddingProgress();
    await restartBus.publishClassificationReady({ imageId: 'before', collection: 'c' });
    assert.deepEqual((await classified.next()).value, { imageId: 'before', collection: 'c' });
    await server.stop();
    await server.start();
    assert.deepEqual((await classified.next()).value, SUBSCRIPTION_GAP, 'events may be missing here');
    assert.deepEqual((await progress.next()).value, SUBSCRIPTION_GAP);
    // The gap comes once the subscription is back: what is published now arrives.
    await restartBus.publishClassificationReady({ imageId: 'after', collection: 'c' });
    assert.deepEqual((await classified.next()).value, { imageId: 'after', collection: 'c' });
    await classified.return?.();
    await progress.return?.();
  });
});

test('a subscriber that does not read: past the limit it gets what is held, then an error, and Redis drops it', async () => {
  const small = new RedisEventBus(new Redis(redis.url), new Redis(redis.url), 5);
  try {
    const events = await small.subscribeReembeddingProgress();
    for (let i = 0; i < 8; i++) await small.publishReembeddingProgress({ reembeddingId: `r${i}` });
    await new Promise((r) => setTimeout(r, 100));
    const got: string[] = [];
    await assert.rejects(async () => {
      for (;;) {
        const r = await events.next();
        if (r.done) break;
        got.push((r.value as { reembeddingId: string }).reembeddingId);
      }
    }, /read too slowly \(5 events waiting\)/);
    assert.deepEqual(got, ['r0', 'r1', 'r2', 'r3', 'r4']);
    await events.return?.();
    for (let i = 0; i < 50 && (await subscribers('lookalike.reembeddingProgress')) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await subscribers('lookalike.reembeddingProgress'), 0);
  } finally {
    await small.close();
  }
});

test('a subscriber that keeps up is never cut off, however many events pass', async () => {
  const small = new RedisEventBus(new Redis(redis.url), new Redis(redis.url), 5);
  try {
    const events = await small.subscribeReembeddingProgress();
    for (let i = 0; i < 20; i++) {
      await small.publishReembeddingProgress({ reembeddingId: `k${i}` });
      assert.deepEqual((await events.next()).value, { reembeddingId: `k${i}` });
    }
    await events.return?.();
  } finally {
    await small.close();
  }
});
