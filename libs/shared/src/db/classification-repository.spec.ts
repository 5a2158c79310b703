import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SqlClassificationRepository } from './classification-repository.js';
import { SqlImageRepository } from './image-repository.js';
import { migrate } from './migrate.js';
import { PGliteClient } from './pglite-client.js';
import { testNewImage } from '../../../../test/fixtures/new-image.js';

let db: PGliteClient;
let images: SqlImageRepository;
let classifications: SqlClassificationRepository;

before(async () => {
  db = await PGliteClient.open();
  await migrate(db);
  images = new SqlImageRepository(db);
  classifications = new SqlClassificationRepository(db);
});

after(() => db.close());

const newImage = (n: number) =>
  images.create(testNewImage(n));
const result = (imageId: string, label: string | null) => ({ imageId, label, confidence: 0.5, neighbors: [], model: 'm', createdAt: new Date() });

test('claim marks an image PROCESSING and returns it; an unknown or malformed id gives null', async () => {
  const image = await newImage(1);
  await images.setStatus(image.id, 'FAILED', 'earlier try');
  const claimed = await images.claim(image.id);
  assert.equal(claimed?.id, image.id);
  assert.equal(claimed?.status, 'PROCESSING');
  assert.equal((await images.findById(image.id))?.error, null, 'the earlier error is cleared');
  assert.equal(await images.claim('00000000-0000-4000-8000-000000000000'), null);
  assert.equal(await images.claim('nope'), null);
});

test('complete saves the result and the final status together, and again on a retry', async () => {
  const image = await newImage(2);
  const ready = await classifications.complete(result(image.id, 'cat'), 'READY');
  assert.equal((await images.findById(image.id))?.status, 'READY');
  assert.equal((await classifications.findByImageId(image.id))?.label, 'cat');
  // The row it returns (for the event) is the row as stored, after the update.
  assert.deepEqual(ready, await images.findById(image.id));
  assert.ok(ready.updatedAt.getTime() >= image.updatedAt.getTime());

  const returned = await classifications.complete(result(image.id, null), 'FAILED', 'Not an image');
  const failed = await images.findById(image.id);
  assert.deepEqual([failed?.status, failed?.error], ['FAILED', 'Not an image']);
  assert.deepEqual(returned, failed);
  assert.equal((await classifications.findByImageId(image.id))?.label, null);
});

test('complete for an image that is gone fails and leaves nothing behind', async () => {
  const image = await newImage(3);
  await images.delete(image.id);
  await assert.rejects(classifications.complete(result(image.id, 'cat'), 'READY'));
  assert.equal(await classifications.findByImageId(image.id), null);
});
