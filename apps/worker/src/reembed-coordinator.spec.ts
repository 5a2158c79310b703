import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { SqlImageRepository } from '@lookalike/shared/db/image-repository';
import { migrate } from '@lookalike/shared/db/migrate';
import { SqlModelRegistry } from '@lookalike/shared/db/model-registry';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import { SqlReembeddingRepository } from '@lookalike/shared/db/reembedding-repository';
import { PgVectorIndex } from '@lookalike/shared/db/vector-index';
import type { EmbedImagePayload, Embedder, EventBus, JobQueue } from '@lookalike/shared/ports';
import { testModelInfo } from '../../../test/fixtures/model-info.js';
import { ReembedCoordinator, type ReembedDeps, ReembedImageService } from './reembed.service.js';
import { testNewImage } from '../../../test/fixtures/new-image.js';

const model = testModelInfo('m:a');
const noEvents = { publishReembeddingProgress: async () => {} } as unknown as EventBus;

// The sweeper on PGlite with the service's repositories; the queue is where faults are injected
// (a re-queue refused the way BullMQ refuses to remove a job another worker has just locked).
describe('ReembedCoordinator: the stale-image pass', () => {
  let db: PGliteClient;
  let images: SqlImageRepository;
  let stale: string[];
  const logs: Array<{ msg: string; extra?: Record<string, unknown> }> = [];

  beforeEach(async () => {
    db = await PGliteClient.open();
    await migrate(db);
    images = new SqlImageRepository(db);
    await new PgVectorIndex(db, { efSearch: 40 }).prepare(model.id, 3);
    stale = [];
    for (let n = 0; n < 4; n++) {
      const image = await images.create(testNewImage(n, { metadata: {} }));
      stale.push(image.id);
    }
    // Untouched for a minute, three QUEUED and one PROCESSING (its worker died): their jobs are taken to be lost.
    await db.query("UPDATE images SET updated_at = now() - interval '1 minute'");
    await db.query("UPDATE images SET status = 'PROCESSING' WHERE id = $1", [stale[3]]);
    logs.length = 0;
  });

  function coordinator(requeue: (payload: EmbedImagePayload) => Promise<boolean>): ReembedCoordinator {
    const queue: Pick<JobQueue, 'enqueueReembedImages' | 'requeueEmbedImage'> = { enqueueReembedImages: async () => {}, requeueEmbedImage: requeue };
    return new ReembedCoordinator({
      model,
      images,
      staleImageMs: 10_000,
      models: new SqlModelRegistry(db),
      reembeddings: new SqlReembeddingRepository(db),
      queue,
      events: noEvents,
      retiredGraceMs: 60_000,
      log: (msg, extra) => logs.push({ msg, extra }),
    });
  }

  test('an image that cannot be re-queued does not end the pass: the others (QUEUED and PROCESSING) are re-queued', async () => {
    const requeued: string[] = [];
    const sweeper = coordinator(async ({ imageId }) => {
      if (imageId === stale[1]) throw new Error('Job 7 is locked by another worker');
      requeued.push(imageId);
      return true;
    });
    await sweeper.start(); // registers the model (active: the first one) and sweeps once
    assert.deepEqual([...requeued].sort(), stale.filter((id) => id !== stale[1]).sort());
    assert.ok(logs.some((l) => l.msg === 're-queued images whose job was lost' && l.extra?.count === 3));
    assert.ok(logs.some((l) => /could not re-queue/.test(l.msg) && /locked by another worker/.test(String(l.extra?.error))));
  });

  test('stop(): the pass under way ends at its next image, and no pass starts after', async () => {
    const requeued: string[] = [];
    let sweeper!: ReembedCoordinator;
    let stopped: Promise<void> | undefined;
    sweeper = coordinator(async ({ imageId }) => {
      requeued.push(imageId);
      stopped ??= sweeper.stop(); // SIGTERM arrives during the first re-queue
      return true;
    });
    await sweeper.start();
    await stopped;
    assert.equal(requeued.length, 1);
    await sweeper.sweep();
    assert.equal(requeued.length, 1, 'sweep() after stop() does nothing');
  });
});

describe('ReembedCoordinator: the checks that scan every image run once per interval across workers', () => {
  test('of three workers sweeping together, one runs them; after the interval, one runs them again', async () => {
    const db = await PGliteClient.open();
    await migrate(db);
    const images = new SqlImageRepository(db);
    await new PgVectorIndex(db, { efSearch: 40 }).prepare(model.id, 3);
    const image = await images.create(testNewImage(0, { metadata: {} }));
    await db.query("UPDATE images SET updated_at = now() - interval '1 minute'");
    const requeues: string[] = [];
    const workers = Array.from(
      { length: 3 },
      (_, w) =>
        new ReembedCoordinator({
          model,
          images,
          staleImageMs: 10_000,
          models: new SqlModelRegistry(db),
          reembeddings: new SqlReembeddingRepository(db),
          queue: { enqueueReembedImages: async () => {}, requeueEmbedImage: async ({ imageId }) => (requeues.push(`${w}:${imageId}`), true) },
          events: noEvents,
          retiredGraceMs: 60_000,
          fleetChecksEveryMs: 300,
        }),
    );
    for (const w of workers) await w.start();
    assert.equal(requeues.length, 1, `one worker looked for stale images: ${requeues}`);
    await Promise.all(workers.map((w) => w.sweep()));
    assert.equal(requeues.length, 1, 'not again within the interval');
    await new Promise((r) => setTimeout(r, 350));
    await Promise.all(workers.map((w) => w.sweep()));
    assert.equal(requeues.length, 2, 'once more after it');
    assert.ok(requeues.every((r) => r.endsWith(image.id)));
    await db.close();
  });
});

describe('ReembedImageService: jobs of another model', () => {
  let db: PGliteClient;
  let images: SqlImageRepository;
  let models: SqlModelRegistry;
  let reembeddings: SqlReembeddingRepository;
  let imageId: string;

  beforeEach(async () => {
    db = await PGliteClient.open();
    await migrate(db);
    images = new SqlImageRepository(db);
    models = new SqlModelRegistry(db);
    reembeddings = new SqlReembeddingRepository(db);
    await models.register(model); // m:a active
    imageId = (await images.create(testNewImage(0, { metadata: {} }))).id;
  });

  afterEach(() => db.close());

  test('left to that model while its re-embedding runs; dropped once it is over or the model is no longer active', async () => {
    const other = 'm:b';
    const running = await reembeddings.startForCollection('c', other);
    const embedder = { info: model } as Embedder;
    const service = new ReembedImageService({ images, models, reembeddings, embedder, events: noEvents, maxPixels: 1 } as unknown as ReembedDeps);
    const job = (reembeddingId: string | null, jobModel = other) => ({ v: 1 as const, imageId, model: jobModel, reembeddingId });
    assert.equal(await service.process(job(running.id)), 'wrong-model');
    await db.query("UPDATE reembeddings SET state = 'SUPERSEDED' WHERE id = $1", [running.id]);
    assert.equal(await service.process(job(running.id)), 'gone', 'its re-embedding is over: nobody takes it');
    assert.equal(await service.process(job(null)), 'gone', 'a missing-vector job of a model that is not active');
    await db.query("UPDATE models SET state = 'retired' WHERE id = $1", [model.id]);
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, 3, $2, 'active')", [other, JSON.stringify({ ...model, id: other })]);
    assert.equal(await service.process(job(null)), 'wrong-model', 'the active model\'s own job waits for its workers');
  });

  test("this model's own job of a cancelled re-embedding is dropped, not embedded", async () => {
    const started = await reembeddings.startForCollection('c', model.id);
    assert.equal(await models.cancel(started.id), true);
    // Any use of the store, the codec or the model fails the test: nothing may be embedded.
    const unused = (name: string) => new Proxy({}, { get: () => () => assert.fail(`${name} used for a cancelled job`) });
    const embedder = new Proxy({ info: model }, { get: (target, key) => (key === 'info' ? target.info : assert.fail('the model ran for a cancelled job')) });
    const service = new ReembedImageService({ images, models, reembeddings, embedder, events: noEvents, maxPixels: 1, objects: unused('objects'), codec: unused('codec'), ingest: unused('ingest') } as unknown as ReembedDeps);
    assert.equal(await service.process({ v: 1, imageId, model: model.id, reembeddingId: started.id }), 'gone');
  });
});
