import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { InvalidInputError, NotFoundError, UnavailableError } from '@lookalike/shared/domain/errors';
import { SqlImageRepository } from '@lookalike/shared/db/image-repository';
import { migrate } from '@lookalike/shared/db/migrate';
import { SqlModelRegistry } from '@lookalike/shared/db/model-registry';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import { PgVectorIndex } from '@lookalike/shared/db/vector-index';
import type { JobQueue, ObjectStore } from '@lookalike/shared/ports';
import { toGraphQLError } from '../errors.js';
import { activeSearchModel, QUERY_EMBED_ATTEMPTS, SearchService, type SearchModel } from './search.service.js';
import { testNewImage } from '../../../../test/fixtures/new-image.js';

const A = 'test:a-3';
const B = 'test:b-3';

let db: PGliteClient;
let images: SqlImageRepository;
let vectors: PgVectorIndex;
let service: SearchService;
let registry: SqlModelRegistry;
let model: SearchModel;
let reads = 0;

// byImageId needs no object store, codec or queue: any use of them fails the test.
const unused = (name: string) => new Proxy({}, { get: () => () => assert.fail(`${name} is not used by a stored-vector search`) }) as never;

before(async () => {
  db = await PGliteClient.open();
  await migrate(db);
  images = new SqlImageRepository(db);
  vectors = new PgVectorIndex(db, { efSearch: 40 });
  registry = new SqlModelRegistry(db);
  const models = { active: () => (reads++, registry.active()) };
  await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, 3, $2, 'active')", [A, JSON.stringify({ id: A, dimension: 3 })]);
  model = activeSearchModel(models, vectors);
  service = new SearchService({
    images,
    vectors,
    objects: unused('objects'),
    codec: unused('codec'),
    queue: unused('queue'),
    limits: { maxBytes: 1, maxPixels: 1 },
    queryTimeoutMs: 1,
    model,
    models: registry,
  });
});

after(() => db.close());

async function image(n: number, vector?: { model: string; v: number[] }): Promise<string> {
  const row = await images.create(testNewImage(n, { label: `l${n}` }));
  if (vector) {
    await vectors.prepare(vector.model, 3);
    await vectors.upsert(row.id, vector.model, Float32Array.from(vector.v));
    await images.setStatus(row.id, 'READY');
  }
  return row.id;
}

test('byImageId: the nearest stored images, the image itself left out; the model is read once, not per search', async () => {
  const probe = await image(1, { model: A, v: [1, 0, 0] });
  const near = await image(2, { model: A, v: [0.9, 0.1, 0] });
  const far = await image(3, { model: A, v: [0, 0, 1] });
  reads = 0;
  const hits = await service.byImageId(probe, 2);
  assert.deepEqual(hits.map((h) => h.imageId), [near, far]);
  await service.byImageId(probe, 2);
  assert.equal(reads, 1, 'the second search used the model it had seen');
});

test('byImageId: an unknown or malformed id is NotFound; an image with no vector yet says so; a bad k is refused', async () => {
  await assert.rejects(service.byImageId('00000000-0000-4000-8000-000000000000', 5), (e) => e instanceof NotFoundError && /No image with id/.test(e.message));
  await assert.rejects(service.byImageId('nope', 5), NotFoundError);
  const queued = await image(10);
  await assert.rejects(service.byImageId(queued, 5), (e) => e instanceof InvalidInputError && /no vector yet \(status QUEUED\)/.test(e.message));
  await assert.rejects(service.byImageId(queued, 0), (e) => e instanceof InvalidInputError && /k must be/.test(e.message));
});

test('byImageId after a model switch: the remembered model fails the SQL check, the new one is read and answers', async () => {
  const probe = await image(20, { model: A, v: [1, 1, 0] });
  await service.byImageId(probe, 1);
  const other = await image(21, { model: B, v: [0, 1, 0] });
  await vectors.upsert(probe, B, Float32Array.from([0, 1, 0.1]));
  await db.query("UPDATE models SET state = 'retired' WHERE id = $1", [A]);
  await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, 3, $2, 'active')", [B, JSON.stringify({ id: B, dimension: 3 })]);
  reads = 0;
  const hits = await service.byImageId(probe, 5);
  assert.deepEqual(hits.map((h) => h.imageId), [other], 'only vectors of the new model');
  assert.equal(reads, 1);
});

/**
 * A search by picture whose query jobs are answered, in turn, by workers of `answeredBy`; the
 * object store and the queue are fakes (the worker is not what is tested), the models are real.
 */
function byPicture(answeredBy: string[], lastSeenActive: SearchModel = model) {
  const stored = new Map<string, Buffer>();
  const jobs: string[] = [];
  const objects = {
    put: async (key: string, data: Buffer) => void stored.set(key, data),
    delete: async (key: string) => void stored.delete(key),
  } as unknown as ObjectStore;
  const queue = {
    embedQueryImage: async ({ objectKey }: { objectKey: string }) => {
      assert.ok(stored.has(objectKey), 'the picture is in the store while its job runs');
      jobs.push(objectKey);
      const by = answeredBy[jobs.length - 1];
      if (!by) return assert.fail('no more query jobs expected');
      return { vector: Float32Array.from([1, 0, 0]), model: by };
    },
  } as unknown as JobQueue;
  const codec = { inspect: async () => ({ format: 'png', contentType: 'image/png', width: 1, height: 1 }) } as never;
  const search = new SearchService({ images, vectors, objects, codec, queue, limits: { maxBytes: 100, maxPixels: 100 }, queryTimeoutMs: 1, model: lastSeenActive, models: registry });
  return { search, jobs, stored };
}

async function addModel(id: string, state: 'pending' | 'retired'): Promise<void> {
  await db.query('INSERT INTO models (id, dimension, info, state) VALUES ($1, 3, $2, $3)', [id, JSON.stringify({ id, dimension: 3 }), state]);
  await vectors.prepare(id, 3);
}

test('embedUpload: an answer of the active or a pending model is searched; one of a retired model is asked again, then refused', async () => {
  const active = (await registry.active())!.id;
  await addModel('test:pending-3', 'pending');
  await addModel('test:retired-3', 'retired');

  const fromActive = byPicture([active]);
  assert.equal((await fromActive.search.embedUpload(Buffer.from('x'))).model, active);
  assert.equal(fromActive.jobs.length, 1);

  // During a switch the new model's workers answer, against its vectors made so far.
  const fromPending = byPicture(['test:pending-3']);
  assert.equal((await fromPending.search.embedUpload(Buffer.from('x'))).model, 'test:pending-3');

  // A worker of a retired model still running: the next job goes to another worker.
  const thenActive = byPicture(['test:retired-3', active]);
  assert.equal((await thenActive.search.embedUpload(Buffer.from('x'))).model, active);
  assert.equal(thenActive.jobs.length, 2);

  const onlyRetired = byPicture(Array(QUERY_EMBED_ATTEMPTS).fill('test:retired-3'));
  await assert.rejects(
    onlyRetired.search.embedUpload(Buffer.from('x')),
    (e) => e instanceof UnavailableError && /model test:retired-3, which is retired \(the active model is /.test(e.message),
  );
  assert.equal(onlyRetired.jobs.length, QUERY_EMBED_ATTEMPTS);
  assert.equal(onlyRetired.stored.size, 0, 'the query picture is deleted, refused or not');

  // Clients can branch on it: nothing wrong with their request, ask again.
  assert.equal((toGraphQLError(new UnavailableError('x')) as { extensions: { code: string } }).extensions.code, 'SERVICE_UNAVAILABLE');

  // An API process that last saw the retired model active (a switch completed since) refuses it too.
  const staleView: SearchModel = async (options) => (options?.fresh ? model(options) : 'test:retired-3');
  await assert.rejects(byPicture(['test:retired-3', 'test:retired-3'], staleView).search.embedUpload(Buffer.from('x')), UnavailableError);

  // A model no registry knows (its row purged) is no better than a retired one.
  await assert.rejects(byPicture(['test:unknown-3', 'test:unknown-3']).search.byUpload(Buffer.from('x'), 5), UnavailableError);
});
