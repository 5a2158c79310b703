import assert from 'node:assert/strict';
import { test } from 'node:test';
import { knnVote } from './knn.js';

const hit = (label: string | null, distance: number) => ({ imageId: `${label}-${distance}`, label, distance });

test('no labelled neighbour: no label, confidence 0', () => {
  assert.deepEqual(knnVote([]), { label: null, confidence: 0 });
  assert.deepEqual(knnVote([hit(null, 0.1)]), { label: null, confidence: 0 });
});

test('similarity weighting: two far neighbours can lose to one near one', () => {
  const v = knnVote([hit('cat', 0.05), hit('dog', 0.7), hit('dog', 0.7)]);
  assert.equal(v.label, 'cat');
  assert.ok(Math.abs(v.confidence - 0.95 / (0.95 + 0.3 + 0.3)) < 1e-12);
});

test('majority weighting counts heads', () => {
  const v = knnVote([hit('cat', 0.05), hit('dog', 0.7), hit('dog', 0.7)], 'majority');
  assert.equal(v.label, 'dog');
  assert.ok(Math.abs(v.confidence - 2 / 3) < 1e-12);
});

test('a tie goes to the label with the nearest neighbour, whatever the order', () => {
  const a = knnVote([hit('x', 0.2), hit('y', 0.1)], 'majority');
  const b = knnVote([hit('y', 0.1), hit('x', 0.2)], 'majority');
  assert.equal(a.label, 'y');
  assert.deepEqual(a, b);
});

test('unlabelled neighbours do not vote; one label gets confidence 1', () => {
  assert.deepEqual(knnVote([hit('a', 0.3), hit(null, 0.01)]), { label: 'a', confidence: 1 });
});

test('neighbours at similarity 0 or below fall back to a head count', () => {
  const v = knnVote([hit('a', 1.2), hit('b', 1.5), hit('b', 1.4)]);
  assert.equal(v.label, 'b');
  assert.ok(Math.abs(v.confidence - 2 / 3) < 1e-12);
});
