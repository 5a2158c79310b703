import assert from 'node:assert/strict';
import { test } from 'node:test';
import { predict, validateClassifyOptions } from './classify.service.js';

const n = (imageId: string, label: string | null, distance: number) => ({ imageId, label, distance });
// One very close "a", three far "b"s.
const hits = [n('1', 'a', 0.02), n('2', 'b', 0.5), n('3', 'b', 0.55), n('4', 'b', 0.6), n('5', null, 0.01)];

test('similarity voting weighs the close neighbour; majority counts heads', () => {
  assert.equal(predict(hits, { k: 5, vote: 'majority', minSimilarity: -1 }, 'm').label, 'b');
  const sim = predict(hits, { k: 5, vote: 'similarity', minSimilarity: -1 }, 'm');
  // a: 0.98; b: 0.5 + 0.45 + 0.4 = 1.35 → b, with 1.35 / 2.33 of the weight.
  assert.equal(sim.label, 'b');
  assert.ok(Math.abs(sim.confidence - 1.35 / 2.33) < 1e-9);
  assert.equal(sim.neighbors.length, 5, 'every neighbour is reported, voters or not');
});

test('neighbours under minSimilarity do not vote; with none left the answer is unknown', () => {
  const strict = predict(hits, { k: 5, vote: 'majority', minSimilarity: 0.9 }, 'm');
  assert.deepEqual([strict.label, strict.unknown, strict.confidence], ['a', false, 1]);
  const none = predict(hits, { k: 5, vote: 'similarity', minSimilarity: 0.99 }, 'm');
  assert.deepEqual([none.label, none.unknown, none.confidence, none.model], [null, true, 0, 'm']);
});

test('options are checked', () => {
  assert.throws(() => validateClassifyOptions({ k: 0, vote: 'majority', minSimilarity: 0 }), /k must be/);
  assert.throws(() => validateClassifyOptions({ k: 5, vote: 'majority', minSimilarity: 1.5 }), /minSimilarity/);
  assert.throws(() => validateClassifyOptions({ k: 5, vote: 'majority', minSimilarity: Number.NaN }), /minSimilarity/);
});
