/**
 * The evaluation query through the running service: its leave-one-out over the index must agree
 * with an exact leave-one-out computed here from the stored vectors, and bad arguments are refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { exactLeaveOneOutCases, scoreLeaveOneOut } from '@lookalike/shared/domain/evaluation';
import sharp from 'sharp';
import { distinctImage } from './fixtures/images.js';
import { startTestService, type TestService, waitFor } from './helpers/service.js';

const UPLOAD = `mutation ($file: Upload!, $label: String) { uploadImage(file: $file, collection: "eval", label: $label) { id } }`;
const EVALUATION = `query ($k: [Int!], $vote: Vote) {
  evaluation(collection: "eval", k: $k, vote: $vote) {
    model evaluated skipped
    results { k total correct accuracy perLabel { label total correct accuracy }
      confusion { labels predicted matrix }
      misclassified { image { id label } expected predicted nearest { image { id } distance } } }
  }
}`;

let service: TestService;
const labels = new Map<string, string>();

before(async () => {
  service = await startTestService();
  // Three classes; each picture twice (once darker), so most images have a same-class twin.
  for (let i = 0; i < 12; i++) {
    const label = ['red', 'green', 'blue'][i % 3];
    const base = await distinctImage(700 + i);
    for (const bytes of [base, await sharp(base).modulate({ brightness: 0.8 }).png().toBuffer()]) {
      const res = await service.upload(UPLOAD, { label }, { field: 'file', bytes });
      labels.set(res.data.uploadImage.id, label);
    }
  }
  await service.upload(UPLOAD, { label: null }, { field: 'file', bytes: await distinctImage(799) });
  await waitFor(async () => {
    const [row] = await service.db.query<{ n: number }>("SELECT count(*) AS n FROM images WHERE collection = 'eval' AND status = 'READY'");
    return Number(row.n) === labels.size + 1;
  }, 30_000, 'images READY');
});

after(() => service?.stop());

test('leave-one-out through the API equals an exact leave-one-out on the stored vectors', async () => {
  const res = await service.gql(EVALUATION, { k: [5, 1, 5] });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const report = res.data.evaluation;
  const model = service.embedder.info.id;
  assert.equal(report.model, model);
  assert.equal(report.evaluated, labels.size, 'every labelled image, not the unlabelled one');
  assert.equal(report.skipped, 0);
  assert.deepEqual(report.results.map((r: any) => r.k), [1, 5], 'k sorted, duplicates dropped');

  const items = [];
  for (const [id, label] of labels) items.push({ id, label, vector: (await service.infra.vectors.get(id, model))! });
  const expected = scoreLeaveOneOut(exactLeaveOneOutCases(items, 5), [1, 5]);
  for (const [i, r] of report.results.entries()) {
    assert.equal(r.correct, expected[i].correct, `k=${r.k}`);
    assert.equal(r.total, labels.size);
    assert.deepEqual(r.confusion, expected[i].confusion);
    assert.deepEqual(r.perLabel, expected[i].perLabel);
    assert.deepEqual(
      r.misclassified.map((m: any) => [m.image.id, m.expected, m.predicted, m.nearest.image.id]).sort(),
      expected[i].misclassified.map((m) => [m.imageId, m.expected, m.predicted, m.nearest!.imageId]).sort(),
    );
    for (const m of r.misclassified) assert.equal(m.image.label, m.expected);
  }
  const majority = await service.gql(EVALUATION, { k: [5], vote: 'MAJORITY' });
  assert.equal(majority.data.evaluation.results[0].correct, scoreLeaveOneOut(exactLeaveOneOutCases(items, 5), [5], 'majority')[0].correct);
});

test('the raw-pixel baseline is the same leave-one-out on the originals\' pixels', async () => {
  const res = await service.gql('{ evaluation(collection: "eval", k: [1], baseline: true) { evaluated baseline { k total correct } } }');
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  const { baseline, evaluated } = res.data.evaluation;
  assert.equal(baseline[0].total, evaluated);
  // Each picture's darker twin is its nearest in pixels too (cosine ignores overall brightness).
  assert.equal(baseline[0].correct, evaluated);
  const without = await service.gql('{ evaluation(collection: "eval") { baseline { k } } }');
  assert.equal(without.data.evaluation.baseline, null);
});

test('bad arguments are refused with a clear message; an unknown collection evaluates nothing', async () => {
  for (const k of [[0], [101], [], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]]) {
    const res = await service.gql(EVALUATION, { k });
    assert.equal(res.errors?.[0].extensions.code, 'BAD_USER_INPUT', `k=${JSON.stringify(k)}`);
  }
  const bad = await service.gql('{ evaluation(collection: "") { evaluated } }');
  assert.match(bad.errors?.[0].message, /Invalid collection/);
  const none = await service.gql('{ evaluation(collection: "no-such-collection") { evaluated results { k total accuracy } } }');
  assert.deepEqual(none.data.evaluation, { evaluated: 0, results: [{ k: 1, total: 0, accuracy: 0 }, { k: 5, total: 0, accuracy: 0 }] });
});
