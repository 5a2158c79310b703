/**
 * Classification you can steer and change, through the running service: classify options (k, vote,
 * metadata filter, minimum similarity), setLabel and deleteImage taking effect on the next answer,
 * lookup by sha256, and evaluation grouped by a metadata key.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { exactLeaveOneOutCases, scoreLeaveOneOut } from '@lookalike/shared/domain/evaluation';
import { distinctImage } from './fixtures/images.js';
import { startTestService, type TestService, waitFor } from './helpers/service.js';

const UPLOAD = `mutation ($file: Upload!, $label: String, $metadata: JSON) {
  uploadImage(file: $file, collection: "parts", label: $label, metadata: $metadata) { id }
}`;
const CLASSIFY = `query ($image: Upload!, $options: ClassifyOptions) {
  classify(image: $image, collection: "parts", options: $options) { label confidence unknown model neighbors { image { id label metadata } distance } }
}`;

let service: TestService;
const stored: { id: string; seed: number; label: string; part: string; bytes: Buffer }[] = [];

const classify = (bytes: Buffer, options: Record<string, unknown> = {}) => service.upload(CLASSIFY, { options }, { field: 'image', bytes });

before(async () => {
  service = await startTestService();
  for (let i = 0; i < 12; i++) {
    const seed = 900 + i;
    const bytes = await distinctImage(seed);
    const label = i % 3 === 0 ? 'defect' : 'ok';
    const part = i % 2 === 0 ? 'bolt' : 'nut';
    const res = await service.upload(UPLOAD, { label, metadata: { part, line: i % 4 } }, { field: 'file', bytes });
    stored.push({ id: res.data.uploadImage.id, seed, label, part, bytes });
  }
  await waitFor(async () => {
    const [row] = await service.db.query<{ n: number }>("SELECT count(*) AS n FROM images WHERE collection = 'parts' AND status = 'READY'");
    return Number(row.n) === stored.length;
  }, 30_000, 'images READY');
});

after(() => service?.stop());

test('classify a picture without storing it: k, metadata filter, minimum similarity', async () => {
  const x = stored[0];
  const before = Number((await service.db.query<{ n: number }>('SELECT count(*) AS n FROM images'))[0].n);
  const res = await classify(x.bytes, { k: 1 });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const p = res.data.classify;
  assert.equal(p.label, x.label, 'a copy of a stored image takes its label');
  assert.equal(p.unknown, false);
  assert.equal(p.model, service.embedder.info.id);
  assert.equal(p.neighbors[0].image.id, x.id);
  assert.ok(p.neighbors[0].distance < 1e-4);
  assert.equal(Number((await service.db.query<{ n: number }>('SELECT count(*) AS n FROM images'))[0].n), before, 'nothing stored');

  const nuts = (await classify(x.bytes, { k: 5, where: { part: 'nut' } })).data.classify;
  assert.equal(nuts.neighbors.length, 5);
  assert.ok(nuts.neighbors.every((n: any) => n.image.metadata.part === 'nut'), 'only neighbours of the same part');
  const similar = await service.gql(`query ($id: ID!) { similarImages(imageId: $id, k: 3, where: { part: "bolt", line: 0 }) { image { metadata } } }`, { id: x.id });
  assert.ok(similar.data.similarImages.length > 0);
  assert.ok(similar.data.similarImages.every((n: any) => n.image.metadata.part === 'bolt' && n.image.metadata.line === 0));

  const stranger = await distinctImage(4242);
  const unknown = (await classify(stranger, { k: 3, minSimilarity: 1 })).data.classify;
  assert.deepEqual([unknown.label, unknown.unknown, unknown.confidence], [null, true, 0]);
  assert.equal(unknown.neighbors.length, 3, 'the neighbours are still shown');
  assert.notEqual((await classify(stranger, { k: 3 })).data.classify.label, null);
});

test('bad classify options are refused', async () => {
  for (const options of [{ k: 0 }, { k: 101 }, { minSimilarity: 2 }, { where: [1] }, { where: { part: { nested: 1 } } }]) {
    const res = await classify(stored[0].bytes, options);
    assert.equal(res.errors?.[0].extensions.code, 'BAD_USER_INPUT', JSON.stringify(options));
  }
});

test('setLabel takes effect on the next classification; bad and unknown ids are refused', async () => {
  const x = stored[1];
  const res = await service.gql(`mutation ($id: ID!) { setLabel(id: $id, label: "scratched") { id label } }`, { id: x.id });
  assert.deepEqual(res.data.setLabel, { id: x.id, label: 'scratched' });
  assert.equal((await classify(x.bytes, { k: 1 })).data.classify.label, 'scratched');
  const cleared = await service.gql(`mutation ($id: ID!) { setLabel(id: $id, label: null) { label } }`, { id: x.id });
  assert.equal(cleared.data.setLabel.label, null);
  assert.notEqual((await classify(x.bytes, { k: 1 })).data.classify.neighbors[0].image.id, x.id, 'an unlabelled image does not vote');
  await service.gql(`mutation ($id: ID!) { setLabel(id: $id, label: "ok") { label } }`, { id: x.id });

  const empty = await service.gql(`mutation ($id: ID!) { setLabel(id: $id, label: " ") { label } }`, { id: x.id });
  assert.equal(empty.errors?.[0].extensions.code, 'BAD_USER_INPUT');
  for (const id of ['00000000-0000-0000-0000-000000000000', 'not-an-id']) {
    const missing = await service.gql(`mutation ($id: ID!) { setLabel(id: $id, label: "x") { label } }`, { id });
    assert.equal(missing.errors?.[0].extensions.code, 'NOT_FOUND');
  }
});

test('images(sha256) finds stored copies; deleteImage removes row, vectors and original', async () => {
  const x = stored[2];
  const sha256 = createHash('sha256').update(x.bytes).digest('hex');
  const found = await service.gql(`query ($s: String) { images(collection: "parts", sha256: $s) { totalCount nodes { id } } }`, { s: sha256 });
  assert.deepEqual(found.data.images, { totalCount: 1, nodes: [{ id: x.id }] });
  const [row] = await service.db.query<{ object_key: string }>('SELECT object_key FROM images WHERE id = $1', [x.id]);
  assert.equal(await service.infra.objects.exists(row.object_key), true);

  const deleted = await service.gql(`mutation ($id: ID!) { deleteImage(id: $id) }`, { id: x.id });
  assert.deepEqual(deleted.data, { deleteImage: true });
  assert.equal((await service.gql(`query ($s: String) { images(sha256: $s) { totalCount } }`, { s: sha256 })).data.images.totalCount, 0);
  assert.equal(Number((await service.db.query<{ n: number }>('SELECT count(*) AS n FROM image_embeddings WHERE image_id = $1', [x.id]))[0].n), 0);
  assert.equal(await service.infra.objects.exists(row.object_key), false);
  assert.notEqual((await classify(x.bytes, { k: 1 })).data.classify.neighbors[0].image.id, x.id, 'gone from the next classification');
  const again = await service.gql(`mutation ($id: ID!) { deleteImage(id: $id) }`, { id: x.id });
  assert.equal(again.errors?.[0].extensions.code, 'NOT_FOUND');
  stored.splice(2, 1);
});

test('evaluation grouped by a metadata key compares each image only within its group', async () => {
  const res = await service.gql(`{ evaluation(collection: "parts", k: [1, 3], groupBy: "part") {
    evaluated skipped results { k correct } groups { value evaluated results { k correct total } } } }`);
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const report = res.data.evaluation;
  assert.equal(report.evaluated, stored.length);
  assert.deepEqual(report.groups.map((g: any) => g.value), ['bolt', 'nut']);
  const model = service.embedder.info.id;
  let correctK1 = 0;
  for (const group of report.groups) {
    const items = [];
    for (const s of stored.filter((s) => s.part === group.value)) items.push({ id: s.id, label: s.label, vector: (await service.infra.vectors.get(s.id, model))! });
    const expected = scoreLeaveOneOut(exactLeaveOneOutCases(items, 3), [1, 3]);
    assert.equal(group.evaluated, items.length);
    assert.deepEqual(group.results.map((r: any) => r.correct), expected.map((e) => e.correct), `group ${group.value}`);
    correctK1 += expected[0].correct;
  }
  assert.equal(report.results[0].correct, correctK1, 'the overall score is the sum of the groups');
  const none = await service.gql(`{ evaluation(collection: "parts", groupBy: "colour") { evaluated skipped groups { value } } }`);
  assert.deepEqual(none.data.evaluation, { evaluated: 0, skipped: stored.length, groups: [] });
});
