import { InvalidInputError } from '@lookalike/shared/domain/errors';
import { exactLeaveOneOutCases, type KScore, type LabelledVector, type LeaveOneOutCase, scoreLeaveOneOut } from '@lookalike/shared/domain/evaluation';
import type { VoteWeighting } from '@lookalike/shared/domain/knn';
import type { ImageCodec, ImageRepository, ObjectStore, VectorIndex } from '@lookalike/shared/ports';
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
  /** The same leave-one-out with exact cosine kNN on raw pixels (BASELINE_SIZE² RGB): what the model adds. */
  baseline: KScore[] | null;
}

export interface EvaluationOptions {
  ks: readonly number[];
  weighting?: VoteWeighting;
  groupBy?: string;
  baseline?: boolean;
}

/** Pixels per side for the raw-pixel baseline: MNIST's 28 rounded up; small enough to hold thousands. */
export const BASELINE_SIZE = 32;
const BASELINE_MAX_IMAGES = 20_000;

/**
 * Leave-one-out over a stored collection: each labelled image is classified by the others through
 * the same index search and vote the service uses, for several k from one neighbour list.
 */
export class EvaluationService {
  constructor(
    private readonly deps: {
      images: ImageRepository;
      vectors: VectorIndex;
      objects: ObjectStore;
      codec: ImageCodec;
      maxPixels: number;
      model: () => Promise<string | null>;
    },
  ) {}

  async leaveOneOut(collection: string, options: EvaluationOptions): Promise<EvaluationReport> {
    const { ks, weighting = 'similarity', groupBy } = options;
    validateCollection(collection);
    if (groupBy !== undefined && (groupBy === '' || groupBy.length > 128)) throw new InvalidInputError('groupBy names a metadata key (1 to 128 characters).');
    if (ks.length === 0 || ks.length > 10) throw new InvalidInputError('Give 1 to 10 values of k.');
    ks.forEach(validateK);
    const model = await this.deps.model();
    if (!model) throw new InvalidInputError('No worker has announced a model yet: start a worker first.');
    const kMax = Math.min(MAX_K, Math.max(...ks));
    const cases: (LeaveOneOutCase & { group?: string; objectKey: string })[] = [];
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
        cases.push({ imageId: image.id, label: image.label, neighbors, group: value === undefined ? undefined : String(value), objectKey: image.objectKey });
      }
      after = page.hasNextPage ? page.images.at(-1)?.id : undefined;
    } while (after);
    const sortedKs = [...new Set(ks)].sort((a, b) => a - b);
    const groups = [...new Set(cases.map((c) => c.group).filter((g) => g !== undefined))].sort().map((value) => {
      const inGroup = cases.filter((c) => c.group === value);
      return { value, evaluated: inGroup.length, results: scoreLeaveOneOut(inGroup, sortedKs, weighting) };
    });
    const baseline = options.baseline ? await this.pixelBaseline(cases, kMax, sortedKs, weighting) : null;
    return { collection, model, evaluated: cases.length, skipped, results: scoreLeaveOneOut(cases, sortedKs, weighting), groups, baseline };
  }

  /** Exact leave-one-out on the originals' pixels, over the same images and within the same groups. */
  private async pixelBaseline(
    cases: readonly (LeaveOneOutCase & { group?: string; objectKey: string })[],
    kMax: number,
    ks: readonly number[],
    weighting: VoteWeighting,
  ): Promise<KScore[]> {
    if (cases.length > BASELINE_MAX_IMAGES) throw new InvalidInputError(`The pixel baseline takes at most ${BASELINE_MAX_IMAGES} images.`);
    const items: (LabelledVector & { group?: string })[] = [];
    for (const c of cases) {
      const rgb = await this.deps.codec.toRgb(await this.deps.objects.get(c.objectKey), BASELINE_SIZE, { maxPixels: this.deps.maxPixels });
      items.push({ id: c.imageId, label: c.label, vector: Float32Array.from(rgb.data), group: c.group });
    }
    const groups = [...new Set(items.map((i) => i.group))];
    const baselineCases = groups.flatMap((g) => exactLeaveOneOutCases(items.filter((i) => i.group === g), kMax));
    return scoreLeaveOneOut(baselineCases, ks, weighting);
  }
}
