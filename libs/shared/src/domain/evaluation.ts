import type { NeighborHit } from './image.js';
import { knnVote, type VoteWeighting } from './knn.js';

/** One labelled image and its labelled neighbours (nearest first, itself excluded). */
export interface LeaveOneOutCase {
  imageId: string;
  label: string;
  neighbors: readonly NeighborHit[];
}

export interface LabelScore {
  label: string;
  total: number;
  correct: number;
  accuracy: number;
}

export interface Misclassified {
  imageId: string;
  expected: string;
  /** null when no neighbour voted. */
  predicted: string | null;
  nearest: NeighborHit | null;
}

export interface KScore {
  k: number;
  total: number;
  correct: number;
  accuracy: number;
  perLabel: LabelScore[];
  /** Rows: the true label; columns: the predicted one, both in `labels` order (a last column "(none)" when some got no vote). */
  confusion: { labels: string[]; predicted: string[]; matrix: number[][] };
  misclassified: Misclassified[];
}

const NONE = '(none)';

/**
 * Oracle's loop: every labelled image is classified by the others (its k nearest labelled
 * neighbours vote), and compared with its own label; for several k from one neighbour list.
 */
export function scoreLeaveOneOut(cases: readonly LeaveOneOutCase[], ks: readonly number[], weighting: VoteWeighting = 'similarity'): KScore[] {
  const labels = [...new Set(cases.map((c) => c.label))].sort();
  return ks.map((k) => {
    const predictions = cases.map((c) => ({ c, predicted: knnVote(c.neighbors.slice(0, k), weighting).label }));
    const predicted = predictions.some((p) => p.predicted === null) ? [...labels, NONE] : labels;
    const column = new Map(predicted.map((l, i) => [l, i]));
    const matrix = labels.map(() => predicted.map(() => 0));
    const perLabel = new Map(labels.map((l) => [l, { label: l, total: 0, correct: 0, accuracy: 0 }]));
    const misclassified: Misclassified[] = [];
    let correct = 0;
    for (const { c, predicted: p } of predictions) {
      matrix[labels.indexOf(c.label)][column.get(p ?? NONE) ?? column.get(NONE)!]++;
      const score = perLabel.get(c.label)!;
      score.total++;
      if (p === c.label) {
        correct++;
        score.correct++;
      } else {
        misclassified.push({ imageId: c.imageId, expected: c.label, predicted: p, nearest: c.neighbors[0] ?? null });
      }
    }
    for (const s of perLabel.values()) s.accuracy = s.total ? s.correct / s.total : 0;
    return {
      k,
      total: cases.length,
      correct,
      accuracy: cases.length ? correct / cases.length : 0,
      perLabel: [...perLabel.values()],
      confusion: { labels, predicted, matrix },
      misclassified,
    };
  });
}

export interface LabelledVector {
  id: string;
  label: string;
  vector: Float32Array;
}

/** Exact cosine leave-one-out neighbours in memory: the baseline on raw pixels, and a check on the index. */
export function exactLeaveOneOutCases(items: readonly LabelledVector[], k: number): LeaveOneOutCase[] {
  const unit = items.map((item) => {
    let norm = 0;
    for (const x of item.vector) norm += x * x;
    norm = Math.sqrt(norm) || 1;
    return Float32Array.from(item.vector, (x) => x / norm);
  });
  return items.map((item, i) => {
    const hits: NeighborHit[] = [];
    for (let j = 0; j < items.length; j++) {
      if (j === i) continue;
      let dot = 0;
      const a = unit[i];
      const b = unit[j];
      for (let d = 0; d < a.length; d++) dot += a[d] * b[d];
      hits.push({ imageId: items[j].id, label: items[j].label, distance: 1 - dot });
    }
    hits.sort((x, y) => x.distance - y.distance || (x.imageId < y.imageId ? -1 : 1));
    return { imageId: item.id, label: item.label, neighbors: hits.slice(0, k) };
  });
}
