import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { testModelInfo } from '../../../../test/fixtures/model-info.js';
import { SqlImageRepository } from './image-repository.js';
import { migrate } from './migrate.js';
import { SqlModelRegistry } from './model-registry.js';
import { PGliteClient } from './pglite-client.js';
import { SqlReembeddingRepository } from './reembedding-repository.js';
import { hnswIndexName, PgVectorIndex } from './vector-index.js';

const A = testModelInfo('m:a');
const B = testModelInfo('m:b');
const C = testModelInfo('m:c');

describe('SqlModelRegistry: one active model, switches only when the new one is complete', () => {
  let db: PGliteClient;
  let models: SqlModelRegistry;
  let reembeddings: SqlReembeddingRepository;
  let images: SqlImageRepository;
  let vectors: PgVectorIndex;

  beforeEach(async () => {
    db = await PGliteClient.open();
    await migrate(db);
    models = new SqlModelRegistry(db);
    reembeddings = new SqlReembeddingRepository(db);
    images = new SqlImageRepository(db);
    vectors = new PgVectorIndex(db, { efSearch: 40 });
    for (const m of [A, B, C]) await vectors.prepare(m.id, 3);
  });

  async function readyImage(n: number, label: string | null, model = A.id): Promise<string> {
    const image = await images.create({
      collection: 'c',
      label,
      width: 1,
      height: 1,
      contentType: 'image/png',
      sha256: `sha-${n}`,
      objectKey: `k-${n}`,
      sizeBytes: 1,
      metadata: null,
    });
    await vectors.upsert(image.id, model, Float32Array.from([1, n, 0]));
    await images.setStatus(image.id, 'READY');
    return image.id;
  }

  const activeId = async () => (await models.active())?.id ?? null;
  const vectorCount = async (model: string) =>
    Number((await db.query<{ n: number }>('SELECT count(*) AS n FROM image_embeddings WHERE model = $1', [model]))[0].n);

  test('the first model is active; the same model again changes nothing', async () => {
    assert.equal(await models.active(), null);
    assert.deepEqual(await models.register(A), { role: 'active' });
    assert.deepEqual(await models.register(A), { role: 'active' });
    assert.equal(await activeId(), A.id);
    assert.equal(await reembeddings.latest(), null);
  });

  test('a new model with nothing to carry over is active at once', async () => {
    await models.register(A);
    assert.deepEqual(await models.register(B), { role: 'active' });
    assert.equal(await activeId(), B.id);
  });

  test('a new model with live vectors is pending until every image is re-embedded, then switches', async () => {
    await models.register(A);
    const unlabelled = await readyImage(1, null);
    const labelled = await readyImage(2, 'cat');
    const role = await models.register(B);
    assert.equal(role.role, 'pending');
    const id = (role as { reembeddingId: string }).reembeddingId;
    assert.equal(await activeId(), A.id, 'the old model stays live');
    assert.deepEqual(await models.register(B), role, 'a restart resumes the same re-embedding');
    assert.deepEqual(await models.register(A), { role: 'active' }, 'an old worker restarting does not cancel it');

    assert.deepEqual(await reembeddings.pendingImageIds(id, 10), [labelled, unlabelled], 'labelled first');
    assert.equal(await models.complete(id), false, 'not while images are pending');
    await vectors.upsert(labelled, B.id, Float32Array.from([0, 1, 0]));
    await reembeddings.markItem(id, labelled, 'DONE');
    assert.deepEqual(
      { ...(await reembeddings.get(id)), startedAt: null },
      { id, model: B.id, replaces: A.id, collection: null, state: 'RUNNING', total: 2, done: 1, failed: 0, startedAt: null, finishedAt: null },
    );
    assert.equal(await reembeddings.hasPending(id), true);
    await reembeddings.markItem(id, unlabelled, 'FAILED', 'object missing');
    assert.equal(await reembeddings.hasPending(id), false);

    assert.equal(await models.complete(id), true);
    assert.equal(await models.complete(id), false, 'completes once');
    assert.equal(await activeId(), B.id);
    const done = (await reembeddings.get(id))!;
    assert.equal(done.state, 'COMPLETE');
    assert.equal(done.failed, 1);
    assert.ok(done.finishedAt);
    const failed = (await images.findById(unlabelled))!;
    assert.equal(failed.status, 'FAILED');
    assert.match(failed.error!, /Re-embedding with model m:b failed: object missing/);

    // The old vectors outlive the switch by the grace period, then go with their index.
    assert.deepEqual(await models.purgeRetired(60_000), []);
    assert.equal(await vectorCount(A.id), 2);
    assert.deepEqual(await models.purgeRetired(0), [A.id]);
    assert.equal(await vectorCount(A.id), 0);
    assert.equal(await vectorCount(B.id), 1);
    const indexes = await db.query('SELECT 1 FROM pg_indexes WHERE indexname = $1', [hnswIndexName(A.id)]);
    assert.equal(indexes.length, 0);
  });

  test('a newer model supersedes a pending one; the dropped one is retired', async () => {
    await models.register(A);
    await readyImage(1, 'cat');
    const toB = await models.register(B);
    const toC = await models.register(C);
    assert.equal(toC.role, 'pending');
    const b = (await reembeddings.get((toB as { reembeddingId: string }).reembeddingId))!;
    assert.equal(b.state, 'SUPERSEDED');
    assert.equal(await models.complete(b.id), false);
    assert.equal((await reembeddings.latest())!.id, (toC as { reembeddingId: string }).reembeddingId);
    assert.deepEqual(await reembeddings.running(C.id).then((r) => r.map((x) => x.model)), [C.id]);
    assert.deepEqual(await models.purgeRetired(0), [B.id]);
    assert.equal(await activeId(), A.id);
  });

  test('cancelling a pending switch rolls it back: the active model stays, the pending one retires and its vectors go', async () => {
    await models.register(A);
    const x = await readyImage(1, 'cat');
    await readyImage(2, 'dog');
    const role = await models.register(B);
    const id = (role as { reembeddingId: string }).reembeddingId;
    await vectors.upsert(x, B.id, Float32Array.from([0, 1, 0]));
    await reembeddings.markItem(id, x, 'DONE');
    assert.equal(await reembeddings.isRunning(id), true);

    assert.equal(await models.cancel(id), true);
    assert.equal(await models.cancel(id), false, 'once');
    assert.equal(await reembeddings.isRunning(id), false);
    const cancelled = (await reembeddings.get(id))!;
    assert.deepEqual([cancelled.state, cancelled.done, cancelled.total], ['CANCELLED', 1, 2]);
    assert.ok(cancelled.finishedAt);
    assert.equal(await models.complete(id), false, 'a cancelled switch never completes');
    assert.equal(await activeId(), A.id);
    assert.deepEqual(await reembeddings.running(B.id), []);
    assert.deepEqual(await models.purgeRetired(0), [B.id], 'the pending model retired');
    assert.equal(await vectorCount(B.id), 0);
    assert.equal(await vectorCount(A.id), 2);

    // A worker of that model starting again means it is wanted after all: a new switch starts.
    const again = await models.register(B);
    assert.equal(again.role, 'pending');
    assert.notEqual((again as { reembeddingId: string }).reembeddingId, id);
  });

  test('cancel: a collection re-embedding stops without touching the models; unknown, finished or malformed ids are refused', async () => {
    await models.register(A);
    const x = await readyImage(1, 'cat');
    const started = await reembeddings.startForCollection('c', A.id);
    assert.equal(await models.cancel(started.id), true);
    assert.equal((await reembeddings.get(started.id))!.state, 'CANCELLED');
    assert.equal(await activeId(), A.id);
    assert.deepEqual(await models.purgeRetired(0), []);

    const finished = await reembeddings.startForCollection('c', A.id);
    await reembeddings.markItem(finished.id, x, 'DONE');
    assert.equal(await models.complete(finished.id), true);
    assert.equal(await models.cancel(finished.id), false, 'complete already');
    assert.equal((await reembeddings.get(finished.id))!.state, 'COMPLETE');
    assert.equal(await models.cancel('00000000-0000-0000-0000-000000000000'), false);
    assert.equal(await models.cancel('not-a-uuid'), false);
    assert.equal(await reembeddings.isRunning('not-a-uuid'), false);
  });

  test('a collection re-embedding with the active model completes without a switch', async () => {
    await models.register(A);
    const x = await readyImage(1, 'cat');
    const started = await reembeddings.startForCollection('c', A.id);
    assert.equal(started.total, 1);
    assert.equal(started.replaces, null);
    await reembeddings.markItem(started.id, x, 'DONE');
    assert.equal(await models.complete(started.id), true);
    assert.equal(await activeId(), A.id);
    assert.equal((await reembeddings.get(started.id))!.state, 'COMPLETE');
    assert.equal((await reembeddings.startForCollection('nothing-here', A.id)).total, 0);
  });

  test('READY images without a vector of the active model are found, unless a re-embedding covers them', async () => {
    await models.register(A);
    const withVector = await readyImage(1, 'cat');
    const withoutVector = await readyImage(2, 'dog', B.id);
    assert.deepEqual(await reembeddings.imagesMissingVectors(A.id, 10), [withoutVector]);
    await reembeddings.startForCollection('c', A.id);
    assert.deepEqual(await reembeddings.imagesMissingVectors(A.id, 10), []);
    assert.ok(withVector);
    assert.equal(await reembeddings.get('not-a-uuid'), null);
  });
});
