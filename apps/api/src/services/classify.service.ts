import { InvalidInputError } from '@lookalike/shared/domain/errors';
import type { NeighborHit } from '@lookalike/shared/domain/image';
import { knnVote, type VoteWeighting } from '@lookalike/shared/domain/knn';
import type { MetadataFilter, VectorIndex } from '@lookalike/shared/ports';
import { type SearchService, validateK } from './search.service.js';

export interface ClassifyOptions {
  k: number;
  vote: VoteWeighting;
  /** Only neighbours with these metadata values vote (Oracle's `part = rec.part`). */
  where?: MetadataFilter;
  /** Neighbours less similar than this (cosine similarity, 1 − distance) do not vote; none left: unknown. */
  minSimilarity: number;
}

export interface Prediction {
  /** null: unknown (no labelled neighbour close enough). */
  label: string | null;
  confidence: number;
  unknown: boolean;
  /** The labelled neighbours that were considered, nearest first. */
  neighbors: NeighborHit[];
  model: string;
}

export function validateClassifyOptions(options: ClassifyOptions): ClassifyOptions {
  validateK(options.k);
  if (!Number.isFinite(options.minSimilarity) || options.minSimilarity < -1 || options.minSimilarity > 1) {
    throw new InvalidInputError(`minSimilarity must be from -1 to 1 (cosine similarity), got ${options.minSimilarity}.`);
  }
  return options;
}

/** kNN with the caller's options, as a pure step: used for a query image and by tests. */
export function predict(neighbors: NeighborHit[], options: ClassifyOptions, model: string): Prediction {
  const voters = neighbors.filter((n) => n.label !== null && 1 - n.distance >= options.minSimilarity);
  const vote = knnVote(voters, options.vote);
  return { label: vote.label, confidence: vote.confidence, unknown: vote.label === null, neighbors, model };
}

/** Classifies a picture that is not stored: embedded by a worker, voted on by the collection's labelled images. */
export class ClassifyService {
  constructor(private readonly deps: { search: SearchService; vectors: VectorIndex }) {}

  async classifyUpload(bytes: Buffer, collection: string | undefined, options: ClassifyOptions): Promise<Prediction> {
    validateClassifyOptions(options);
    const { vector, model } = await this.deps.search.embedUpload(bytes);
    const neighbors = await this.deps.vectors.nearest({ vector, model, k: options.k, collection, labelledOnly: true, where: options.where });
    return predict(neighbors, options, model);
  }
}
