import type { NeighborHit } from './image.js';

export type VoteWeighting = 'similarity' | 'majority';

export interface Vote {
  label: string | null;
  /** The winning label's share of all votes, 0..1; 0 when nobody voted. */
  confidence: number;
}

/**
 * The kNN vote. With `similarity` each labelled neighbour votes with its cosine similarity
 * (1 − distance, floored at 0); with `majority` each votes 1. Ties go to the label whose best
 * neighbour is nearest, so the answer never depends on the order rows came back in.
 */
export function knnVote(neighbors: readonly NeighborHit[], weighting: VoteWeighting = 'similarity'): Vote {
  const tally = new Map<string, { weight: number; nearest: number }>();
  let total = 0;
  for (const n of neighbors) {
    if (n.label === null) continue;
    const weight = weighting === 'majority' ? 1 : Math.max(0, 1 - n.distance);
    const entry = tally.get(n.label) ?? { weight: 0, nearest: Number.POSITIVE_INFINITY };
    entry.weight += weight;
    entry.nearest = Math.min(entry.nearest, n.distance);
    tally.set(n.label, entry);
    total += weight;
  }
  let best: { label: string; weight: number; nearest: number } | null = null;
  for (const [label, e] of tally) {
    if (!best || e.weight > best.weight || (e.weight === best.weight && e.nearest < best.nearest)) {
      best = { label, ...e };
    }
  }
  if (!best) return { label: null, confidence: 0 };
  // Every neighbour opposite the query (similarity 0): fall back to counting heads.
  if (total === 0) return knnVote(neighbors, 'majority');
  return { label: best.label, confidence: best.weight / total };
}
