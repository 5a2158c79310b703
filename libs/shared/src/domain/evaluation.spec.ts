import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exactLeaveOneOutCases, scoreLeaveOneOut, type LeaveOneOutCase } from './evaluation.js';

const hit = (imageId: string, label: string, distance: number) => ({ imageId, label, distance });

// Four cats and two dogs; c4 sits nearest a dog, d2 has no neighbour at all.
const cases: LeaveOneOutCase[] = [
  { imageId: 'c1', label: 'cat', neighbors: [hit('c2', 'cat', 0.1), hit('d1', 'dog', 0.2), hit('c3', 'cat', 0.3)] },
  { imageId: 'c2', label: 'cat', neighbors: [hit('c1', 'cat', 0.1), hit('c3', 'cat', 0.2), hit('d1', 'dog', 0.3)] },
  { imageId: 'c3', label: 'cat', neighbors: [hit('c2', 'cat', 0.2), hit('c1', 'cat', 0.3), hit('d1', 'dog', 0.4)] },
  { imageId: 'c4', label: 'cat', neighbors: [hit('d1', 'dog', 0.05), hit('c1', 'cat', 0.1), hit('c2', 'cat', 0.15)] },
  { imageId: 'd1', label: 'dog', neighbors: [hit('c4', 'cat', 0.05), hit('c1', 'cat', 0.2), hit('c2', 'cat', 0.3)] },
  { imageId: 'd2', label: 'dog', neighbors: [] },
];

test('leave-one-out scores for several k from one neighbour list', () => {
  const [k1, k3] = scoreLeaveOneOut(cases, [1, 3]);
  // k=1: c1 c2 c3 right; c4 → dog, d1 → cat, d2 → none: 3 of 6.
  assert.equal(k1.k, 1);
  assert.equal(k1.correct, 3);
  assert.equal(k1.accuracy, 0.5);
  assert.deepEqual(k1.perLabel, [
    { label: 'cat', total: 4, correct: 3, accuracy: 0.75 },
    { label: 'dog', total: 2, correct: 0, accuracy: 0 },
  ]);
  assert.deepEqual(k1.confusion, { labels: ['cat', 'dog'], predicted: ['cat', 'dog', '(none)'], matrix: [[3, 1, 0], [1, 0, 1]] });
  assert.deepEqual(
    k1.misclassified.map((m) => [m.imageId, m.expected, m.predicted, m.nearest?.imageId ?? null]),
    [['c4', 'cat', 'dog', 'd1'], ['d1', 'dog', 'cat', 'c4'], ['d2', 'dog', null, null]],
  );
  // k=3, similarity-weighted: c4 gets cat 0.9+0.85 against dog 0.95 → cat; the dogs stay wrong.
  assert.equal(k3.correct, 4);
  assert.deepEqual(k3.confusion.matrix, [[4, 0, 0], [1, 0, 1]]);
  // Majority voting changes nothing here, but it is the one asked for.
  assert.equal(scoreLeaveOneOut(cases, [3], 'majority')[0].correct, 4);
});

test('exact cosine neighbours leave the image itself out and sort by distance', () => {
  const items = [
    { id: 'a', label: 'x', vector: Float32Array.from([1, 0]) },
    { id: 'b', label: 'x', vector: Float32Array.from([2, 0.2]) },
    { id: 'c', label: 'y', vector: Float32Array.from([0, 3]) },
  ];
  const [a, , c] = exactLeaveOneOutCases(items, 2);
  assert.deepEqual(a.neighbors.map((n) => n.imageId), ['b', 'c']);
  assert.ok(Math.abs(a.neighbors[0].distance - (1 - 2 / Math.hypot(2, 0.2))) < 1e-6);
  assert.ok(Math.abs(a.neighbors[1].distance - 1) < 1e-6);
  assert.deepEqual(c.neighbors.map((n) => n.imageId), ['b', 'a']);
  assert.equal(scoreLeaveOneOut(exactLeaveOneOutCases(items, 1), [1])[0].correct, 2);
});
