import { InvalidInputError } from '@lookalike/shared/domain/errors';
import { type KScore, type LeaveOneOutCase, scoreLeaveOneOut } from '@lookalike/shared/domain/evaluation';
import type { VoteWeighting } from '@lookalike/shared/domain/knn';
import type { ImageRepository, VectorIndex } from '@lookalike/shared/ports';
import { MAX_K, validateK } from './search.service.js';
import { validateCollection } from './upload-image.service.js';

export interface EvaluationReport {
  collection: string;
  model: string;
  /** Labelled images with a vector of the active model: the ones classified. */
  evaluated: number;
  /** Labelled images without one yet (QUEUED, PROCESSING, FAILED): left out. */
  skipped: number;
  results: KScore[];
  /** With groupBy: the same per metadata value (neighbours were restricted to the image's own value). */
  groups: { value: string; evaluated: number; results: KScore[] }[];
}

/**
 * Leave-one-out over a stored collection: each labelled image is classified by the others through
 * the same index search and vote the service uses, for several k from one neighbour list.
 */
export class EvaluationService {
  constructor(
    private readonly deps: {
      images: ImageRepository;
      vectors: VectorIndex;
      model: () => Promise<string | null>;
    },
  ) {}

  async leaveOneOut(collection: string, ks: readonly number[], weighting: VoteWeighting = 'similarity', groupBy?: string): Promise<EvaluationReport> {
    validateCollection(collection);
    if (groupBy !== undefined && (groupBy === '' || groupBy.length > 128)) throw new InvalidInputError('groupBy names a metadata key (1 to 128 characters).');
    if (ks.length === 0 || ks.length > 10) throw new InvalidInputError('Give 1 to 10 values of k.');
    ks.forEach(validateK);
    const model = await this.deps.model();
    if (!model) throw new InvalidInputError('No worker has announced a model yet: start a worker first.');
    const kMax = Math.min(MAX_K, Math.max(...ks));
    const cases: (LeaveOneOutCase & { group?: string })[] = [];
    let skipped = 0;
    let after: string | undefined;
    do {
      const page = await this.deps.images.list({ collection }, 500, after);
      for (const image of page.images) {
        if (image.label === null) continue;
        const value = groupBy === undefined ? undefined : image.metadata?.[groupBy];
        const vector = await this.deps.vectors.get(image.id, model);
        // Grouped: an image without a plain value under the key has no group to be compared within.
        if (!vector || (groupBy !== undefined && !['string', 'number', 'boolean'].includes(typeof value))) {
          skipped++;
          continue;
        }
        const where = groupBy === undefined ? undefined : { [groupBy]: value as string | number | boolean };
        const neighbors = await this.deps.vectors.nearest({ vector, model, k: kMax, collection, excludeImageId: image.id, labelledOnly: true, where });
        cases.push({ imageId: image.id, label: image.label, neighbors, group: value === undefined ? undefined : String(value) });
      }
      after = page.hasNextPage ? page.images.at(-1)?.id : undefined;
    } while (after);
    const sortedKs = [...new Set(ks)].sort((a, b) => a - b);
    const groups = [...new Set(cases.map((c) => c.group).filter((g) => g !== undefined))].sort().map((value) => {
      const inGroup = cases.filter((c) => c.group === value);
      return { value, evaluated: inGroup.length, results: scoreLeaveOneOut(inGroup, sortedKs, weighting) };
    });
    return { collection, model, evaluated: cases.length, skipped, results: scoreLeaveOneOut(cases, sortedKs, weighting), groups };
  }
}
