import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { RedisEventBus } from '@lookalike/shared/adapters/redis-event-bus';
import { SqlClassificationRepository } from '@lookalike/shared/db/classification-repository';
import { SqlImageRepository } from '@lookalike/shared/db/image-repository';
import { migrate } from '@lookalike/shared/db/migrate';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import type { ClassificationRecord, ImageRecord } from '@lookalike/shared/domain/image';
import { type LocalRedis, startLocalRedis } from '@lookalike/shared/local-redis';
import type { ClassificationRepository } from '@lookalike/shared/ports';
import { Redis } from 'ioredis';
import { withRestartableRedis } from '../../../test/helpers/restartable-redis.js';
import { CLOCK_MARGIN_MS, classificationFeed, type DeliveredClassification, RecentlyDelivered } from './classification-feed.js';
import { testNewImage } from '../../../test/fixtures/new-image.js';

// The feed on a real redis-server (pub/sub, JSON on the wire) and PGlite; database reads are counted.
let redis: LocalRedis;
let db: PGliteClient;
let images: SqlImageRepository;
let stored: SqlClassificationRepository;
let bus: RedisEventBus;
const clients: Redis[] = [];
let reads = 0;
const classifications: ClassificationRepository = {
  complete: (...args) => stored.complete(...args),
  findByImageId: (id) => (reads++, stored.findByImageId(id)),
  savedSince: (query) => (reads++, stored.savedSince(query)),
};

before(async () => {
  redis = await startLocalRedis(path.join(os.tmpdir(), `lookalike-feed-${process.pid}`));
  db = await PGliteClient.open();
  await migrate(db);
  images = new SqlImageRepository(db);
  stored = new SqlClassificationRepository(db);
  clients.push(new Redis(redis.url), new Redis(redis.url));
  bus = new RedisEventBus(clients[0], clients[1]);
});

after(async () => {
  await bus.close();
  await db.close();
  await redis.stop();
});

let n = 0;
/** An image with its result saved, as a worker leaves it; returns what `complete` returned. */
async function classified(collection: string, label: string): Promise<{ classification: ClassificationRecord; image: ImageRecord }> {
  n++;
  const image = await images.create(testNewImage(n, { collection, metadata: { createdAt: 'user text, not a date' } }));
  const classification = { imageId: image.id, label, confidence: 0.75, neighbors: [{ imageId: image.id, label, distance: 0.1 }], model: 'm', createdAt: new Date() };
  return { classification, image: await stored.complete(classification, 'READY') };
}

/** Starts the feed (subscribed once the first next() is pending) and collects `count` results. */
async function take(filter: { imageId?: string; collection?: string }, count: number, publish: () => Promise<void>): Promise<DeliveredClassification[]> {
  const feed = classificationFeed({ events: bus, classifications }, filter);
  const out: DeliveredClassification[] = [];
  const first = feed.next();
  await new Promise((r) => setTimeout(r, 200)); // SUBSCRIBE reaches redis-server
  await publish();
  for (let r = await first; !r.done; r = await feed.next()) {
    out.push(r.value);
    if (out.length === count) break;
  }
  await feed.return(undefined);
  return out;
}

test('an event that carries the result is delivered as saved, dates revived, with no database read', async () => {
  const a = await classified('carry', 'cat');
  reads = 0;
  const [got] = await take({ collection: 'carry' }, 1, () => bus.publishClassificationReady({ imageId: a.image.id, collection: 'carry', result: a }));
  assert.equal(reads, 0);
  const { image, ...classification } = got;
  assert.deepEqual(classification, a.classification);
  assert.deepEqual(image, a.image);
  assert.ok(image!.updatedAt instanceof Date && classification.createdAt instanceof Date);
  assert.deepEqual(image!.metadata, { createdAt: 'user text, not a date' }, "the user's metadata stays as sent");
});

test('an event without a result (a worker from before) is read from the database', async () => {
  const a = await classified('old', 'dog');
  reads = 0;
  const [got] = await take({ collection: 'old' }, 1, () => bus.publishClassificationReady({ imageId: a.image.id, collection: 'old' }));
  assert.equal(reads, 1);
  assert.equal(got.image, undefined, 'the image is resolved by id instead');
  assert.deepEqual(got, a.classification);
});

// The events are published while the feed is paused on the stored result: they must be kept
// (a subscription made only when iteration starts would lose them, and the client would wait forever).
test('by imageId: the result already saved comes first, its own event is not delivered again, newer ones are', async () => {
  const a = await classified('by-id', 'cat');
  const newer = { ...a.classification, label: 'lion', createdAt: new Date(a.classification.createdAt.getTime() + 5) };
  const newerImage = await stored.complete(newer, 'READY');
  const got = await take({ imageId: a.image.id }, 2, async () => {
    await bus.publishClassificationReady({ imageId: a.image.id, collection: 'by-id', result: { classification: newer, image: newerImage } });
    await bus.publishClassificationReady({ imageId: a.image.id, collection: 'by-id', result: { classification: newer, image: newerImage } });
    const later = { ...newer, label: 'tiger', createdAt: new Date(newer.createdAt.getTime() + 5) };
    await bus.publishClassificationReady({ imageId: a.image.id, collection: 'by-id', result: { classification: later, image: newerImage } });
  });
  assert.deepEqual(
    got.map((c) => c.label),
    ['lion', 'tiger'],
  );
});

test('events for other images or collections are skipped', async () => {
  const a = await classified('mine', 'cat');
  const b = await classified('theirs', 'dog');
  const got = await take({ collection: 'mine' }, 1, async () => {
    await bus.publishClassificationReady({ imageId: b.image.id, collection: 'theirs', result: b });
    await bus.publishClassificationReady({ imageId: a.image.id, collection: 'mine', result: a });
  });
  assert.deepEqual(
    got.map((c) => c.imageId),
    [a.image.id],
  );
});

const subscribers = async () => Number(((await clients[0].call('PUBSUB', 'NUMSUB', 'lookalike.classificationReady')) as [string, number])[1]);
const within = <T>(p: Promise<T>, ms: number, what: string) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref())]);

// graphql-ws keeps a next() pending and calls return() when the client completes or goes away. A
// feed waiting for an event it filters out must still end then, and leave Redis, or every such
// subscription would stay for ever and take every event.
test('unsubscribing while the feed waits for an event it would skip ends it and its Redis subscription', async () => {
  const a = await classified('wait', 'cat');
  const feed = classificationFeed({ events: bus, classifications }, { imageId: a.image.id });
  assert.equal((await feed.next()).value?.imageId, a.image.id, 'the saved result first');
  const pending = feed.next();
  await bus.publishClassificationReady({ imageId: 'another', collection: 'wait' });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await subscribers(), 1);
  await within(feed.return(undefined), 2000, 'return()');
  assert.deepEqual(await within(pending, 2000, 'the pending next()'), { done: true, value: undefined });
  // The UNSUBSCRIBE is sent without waiting for its reply (graphql-redis-subscriptions).
  for (let i = 0; i < 50 && (await subscribers()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await subscribers(), 0, 'the Redis subscription is gone');
});

// Pub/sub delivers at most once: a result published while Redis was away never arrives. A client
// waiting for one image must not wait for ever: the feed reads the result again after the gap.
test('by imageId: a result saved while Redis was away is delivered once Redis is back', async () => {
  await withRestartableRedis('feed', async (restartBus, server) => {
    n++;
    const image = await images.create(testNewImage(n, { collection: 'gap', metadata: {} }));
    const feed = classificationFeed({ events: restartBus, classifications }, { imageId: image.id });
    const first = feed.next(); // subscribes, finds no result yet, waits
    await new Promise((r) => setTimeout(r, 200));
    await server.stop();
    // The worker saves the result; its event cannot be published (Redis is down).
    await stored.complete({ imageId: image.id, label: 'owl', confidence: 1, neighbors: [], model: 'm', createdAt: new Date() }, 'READY');
    await server.start();
    const got = await within(first, 10_000, 'the result after the restart');
    assert.equal(got.value?.label, 'owl');
    await feed.return(undefined);
  });
});

// A collection feed cannot ask for one image: it reads back every result of its collection saved
// since the last one it delivered, then goes on with events, delivering each result once.
test('by collection: results saved while Redis was away are read back after it, oldest first, each once', async () => {
  await withRestartableRedis('feed', async (restartBus, server) => {
    const long = await classified('gap-c', 'before');
    await stored.complete({ ...long.classification, createdAt: new Date(Date.now() - 60_000) }, 'READY'); // long before the feed
    const feed = classificationFeed({ events: restartBus, classifications }, { collection: 'gap-c' });
    const next = () => within(feed.next(), 10_000, 'next result');
    const pending = feed.next();
    await new Promise((r) => setTimeout(r, 200));
    const live = await classified('gap-c', 'live');
    await restartBus.publishClassificationReady({ imageId: live.image.id, collection: 'gap-c', result: live });
    assert.equal((await within(pending, 10_000, 'the live event')).value?.label, 'live');

    await server.stop();
    const missed = [await classified('gap-c', 'missed-1'), await classified('elsewhere', 'not-mine'), await classified('gap-c', 'missed-2')];
    await server.start();
    assert.equal((await next()).value?.label, 'missed-1');
    const second = (await next()).value!;
    assert.equal(second.label, 'missed-2');
    assert.deepEqual(second.image, missed[2].image, 'with its image row');
    // A worker publishing a result the read back already delivered (saved just before Redis came
    // back, published just after) does not deliver it twice; the next new one comes.
    await new Promise((r) => setTimeout(r, 200));
    await restartBus.publishClassificationReady({ imageId: missed[2].image.id, collection: 'gap-c', result: missed[2] });
    await restartBus.publishClassificationReady({ imageId: live.image.id, collection: 'gap-c', result: live });
    const after = await classified('gap-c', 'after');
    await restartBus.publishClassificationReady({ imageId: after.image.id, collection: 'gap-c', result: after });
    assert.equal((await next()).value?.label, 'after', 'neither the read back result nor the live one again');
    await feed.return(undefined);
  });
});

test('RecentlyDelivered: a result once; remembered for the clock margin past the newest', () => {
  const at = (ms: number, id = 'a'): ClassificationRecord => ({ imageId: id, label: null, confidence: 0, neighbors: [], model: 'm', createdAt: new Date(ms) });
  const seen = new RecentlyDelivered(1_000_000);
  assert.equal(seen.add(at(1_000_100)), true);
  assert.equal(seen.add(at(1_000_100)), false, 'the same result again');
  assert.equal(seen.add(at(1_000_200)), true, 'a newer result of the same image');
  assert.equal(seen.add(at(1_000_100, 'b')), true, 'another image');
  assert.equal(seen.newest, 1_000_200);
  assert.equal(seen.add(at(1_000_200 + CLOCK_MARGIN_MS + 1, 'c')), true);
  assert.equal(seen.size, 1, 'the older ones are forgotten');
});
