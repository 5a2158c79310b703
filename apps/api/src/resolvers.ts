import { InvalidInputError } from '@lookalike/shared/domain/errors';
import type { KScore } from '@lookalike/shared/domain/evaluation';
import type { ClassificationRecord, ImageRecord, NeighborHit } from '@lookalike/shared/domain/image';
import { failureReason, type Metrics, noopMetrics, type SearchInput, type SearchQuery } from '@lookalike/shared/metrics';
import type { ClassificationRepository, EventBus, ImageRepository, ModelInfo, Reembedding } from '@lookalike/shared/ports';
import { GraphQLDateTime, GraphQLJSON } from 'graphql-scalars';
import GraphQLUpload from 'graphql-upload/GraphQLUpload.mjs';
import type { FileUpload } from 'graphql-upload/processRequest.mjs';
import { classificationFeed, type DeliveredClassification } from './classification-feed.js';
import { guard } from './errors.js';
import { type ClassifyService, validateClassifyOptions } from './services/classify.service.js';
import type { EvaluationService } from './services/evaluation.service.js';
import type { ImageService } from './services/image.service.js';
import type { ReembedService } from './services/reembed.service.js';
import { type SearchService, validateWhere } from './services/search.service.js';
import type { UploadImageService } from './services/upload-image.service.js';

export interface ApiDeps {
  images: ImageRepository;
  classifications: ClassificationRepository;
  events: EventBus;
  upload: UploadImageService;
  search: SearchService;
  reembed: ReembedService;
  evaluation: EvaluationService;
  classify: ClassifyService;
  imageAdmin: ImageService;
  activeModel: () => Promise<ModelInfo | null>;
  maxUploadBytes: number;
  publicUrl: string;
  /** Search latency and failed operations; nothing is recorded when left out. */
  metrics?: Metrics;
}

/** Reads an upload stream into memory, refusing it as soon as it passes the limit. */
export async function readUpload(upload: Promise<FileUpload>, maxBytes: number): Promise<Buffer> {
  const file = await upload;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of file.createReadStream()) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new InvalidInputError(`The file is larger than the ${maxBytes} byte upload limit.`);
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    // graphql-upload ends the stream with an error when the file passes its own maxFileSize.
    throw new InvalidInputError(`The upload could not be read: ${(error as Error).message}`);
  }
  return Buffer.concat(chunks);
}

function encodeCursor(id: string): string {
  return Buffer.from(id).toString('base64url');
}

function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, 'base64url').toString();
}

export function createResolvers(deps: ApiDeps) {
  const { images, classifications } = deps;
  const metrics = deps.metrics ?? noopMetrics;
  /** Counts a failed operation by reason (from the use case's error, before it becomes a GraphQL error). */
  const counted = async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      metrics.requestFailed(operation, failureReason(error));
      throw error;
    }
  };
  /** Times a search query, reading the upload included (that is what the client waits for). */
  const timed = async <T>(query: SearchQuery, input: SearchInput, fn: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    let outcome: 'ok' | 'error' = 'error';
    try {
      const result = await counted(query, fn);
      outcome = 'ok';
      return result;
    } finally {
      metrics.searchFinished(query, input, outcome, (performance.now() - started) / 1000);
    }
  };
  const neighbors = async (hits: NeighborHit[]) => {
    const rows = new Map((await images.findByIds(hits.map((h) => h.imageId))).map((r) => [r.id, r]));
    // A neighbour deleted between the search and this read is left out rather than failing the query.
    return hits.filter((h) => rows.has(h.imageId)).map((h) => ({ image: rows.get(h.imageId), distance: h.distance }));
  };

  return {
    Upload: GraphQLUpload,
    JSON: GraphQLJSON,
    DateTime: GraphQLDateTime,
    Image: {
      url: (image: ImageRecord) => `${deps.publicUrl}/images/${image.id}/original`,
      classification: (image: ImageRecord) => classifications.findByImageId(image.id),
    },
    Classification: {
      image: (c: DeliveredClassification) => c.image ?? images.findById(c.imageId),
      neighbors: (c: { neighbors: NeighborHit[] }) => neighbors(c.neighbors),
    },
    Query: {
      image: (_: unknown, args: { id: string }) => images.findById(args.id),
      images: (_: unknown, args: { collection?: string; label?: string; sha256?: string; first?: number; after?: string }) =>
        guard(async () => {
          const first = args.first ?? 20;
          if (!Number.isInteger(first) || first < 1 || first > 500) throw new InvalidInputError('first must be from 1 to 500.');
          const page = await images.list(
            { collection: args.collection ?? undefined, label: args.label ?? undefined, sha256: args.sha256 ?? undefined },
            first,
            args.after ? decodeCursor(args.after) : undefined,
          );
          const edges = page.images.map((node) => ({ node, cursor: encodeCursor(node.id) }));
          return {
            edges,
            nodes: page.images,
            totalCount: page.totalCount,
            pageInfo: { hasNextPage: page.hasNextPage, endCursor: edges.at(-1)?.cursor ?? null },
          };
        }),
      similarImages: (
        _: unknown,
        args: { imageId?: string; image?: Promise<FileUpload>; collection?: string; k?: number; where?: unknown },
      ) =>
        guard(() => timed('similarImages', args.imageId != null ? 'image_id' : 'upload', async () => {
          const k = args.k ?? 5;
          const collection = args.collection ?? undefined;
          const where = validateWhere(args.where);
          if ((args.imageId == null) === (args.image == null)) {
            throw new InvalidInputError('Give exactly one of imageId or image.');
          }
          const hits = args.imageId
            ? await deps.search.byImageId(args.imageId, k, collection, where)
            : await deps.search.byUpload(await readUpload(args.image!, deps.maxUploadBytes), k, collection, where);
          return neighbors(hits);
        })),
      classify: (
        _: unknown,
        args: { image: Promise<FileUpload>; collection?: string | null; options?: { k?: number; vote?: 'MAJORITY' | 'SIMILARITY'; where?: unknown; minSimilarity?: number } | null },
      ) =>
        guard(() => timed('classify', 'upload', async () => {
          const o = args.options ?? {};
          const options = validateClassifyOptions({
            k: o.k ?? 5,
            vote: o.vote === 'MAJORITY' ? 'majority' : 'similarity',
            where: validateWhere(o.where),
            minSimilarity: o.minSimilarity ?? -1,
          });
          const prediction = await deps.classify.classifyUpload(await readUpload(args.image, deps.maxUploadBytes), args.collection ?? undefined, options);
          return { ...prediction, neighbors: await neighbors(prediction.neighbors) };
        })),
      model: () => deps.activeModel(),
      reembedding: (_: unknown, args: { id?: string | null }) => guard(() => deps.reembed.get(args.id ?? undefined)),
      evaluation: (
        _: unknown,
        args: { collection: string; k?: number[]; vote?: 'MAJORITY' | 'SIMILARITY'; groupBy?: string | null; baseline?: boolean },
      ) =>
        guard(async () => {
          const report = await deps.evaluation.leaveOneOut(args.collection, {
            ks: args.k ?? [1, 5],
            weighting: args.vote === 'MAJORITY' ? 'majority' : 'similarity',
            groupBy: args.groupBy ?? undefined,
            baseline: args.baseline ?? false,
          });
          // Images are resolved in one read for the whole report, not one per misclassification.
          const all = [...report.results, ...report.groups.flatMap((g) => g.results), ...(report.baseline ?? [])];
          const ids = all.flatMap((r) => r.misclassified.flatMap((m) => [m.imageId, ...(m.nearest ? [m.nearest.imageId] : [])]));
          const rows = new Map((await images.findByIds([...new Set(ids)])).map((r) => [r.id, r]));
          const withImages = (scores: KScore[]) =>
            scores.map((r) => ({
              ...r,
              misclassified: r.misclassified
                .filter((m) => rows.has(m.imageId))
                .map((m) => ({
                  ...m,
                  image: rows.get(m.imageId),
                  nearest: m.nearest && rows.has(m.nearest.imageId) ? { image: rows.get(m.nearest.imageId), distance: m.nearest.distance } : null,
                })),
            }));
          return {
            ...report,
            results: withImages(report.results),
            groups: report.groups.map((g) => ({ ...g, results: withImages(g.results) })),
            baseline: report.baseline && withImages(report.baseline),
          };
        }),
    },
    Mutation: {
      uploadImage: (
        _: unknown,
        args: { file: Promise<FileUpload>; collection?: string; label?: string | null; metadata?: unknown },
      ) =>
        guard(() =>
          counted('uploadImage', async () =>
            deps.upload.upload({
              bytes: await readUpload(args.file, deps.maxUploadBytes),
              collection: args.collection ?? 'default',
              label: args.label ?? null,
              metadata: (args.metadata ?? null) as Record<string, unknown> | null,
            }),
          ),
        ),
      reembed: (_: unknown, args: { collection: string }) => guard(() => deps.reembed.startForCollection(args.collection)),
      cancelReembedding: (_: unknown, args: { id: string }) => guard(() => deps.reembed.cancel(args.id)),
      setLabel: (_: unknown, args: { id: string; label?: string | null }) => guard(() => deps.imageAdmin.setLabel(args.id, args.label ?? null)),
      deleteImage: (_: unknown, args: { id: string }) => guard(async () => (await deps.imageAdmin.delete(args.id), true)),
    },
    Subscription: {
      classificationReady: {
        subscribe: (_: unknown, args: { imageId?: string; collection?: string }) => classificationFeed(deps, args),
        resolve: (payload: ClassificationRecord) => payload,
      },
      reembeddingProgress: {
        // An unknown id is refused up front, as a GraphQL error rather than a broken stream.
        subscribe: (_: unknown, args: { id?: string | null }) =>
          guard(async () => {
            if (args.id != null) await deps.reembed.get(args.id);
            return deps.reembed.progress(args.id ?? undefined);
          }),
        resolve: (payload: Reembedding) => payload,
      },
    },
  };
}
