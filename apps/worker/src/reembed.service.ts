import type {
  EventBus,
  ImageCodec,
  ImageRepository,
  JobQueue,
  ModelInfo,
  ModelRegistry,
  ModelRole,
  ObjectStore,
  ReembedImagePayload,
  ReembeddingRepository,
  Embedder,
  VectorIndex,
} from '@lookalike/shared/ports';
import type { EmbedImageService } from './embed-image.service.js';

export type ReembedOutcome = 'done' | 'gone' | 'wrong-model';

export interface ReembedDeps {
  images: ImageRepository;
  vectors: VectorIndex;
  objects: ObjectStore;
  codec: ImageCodec;
  embedder: Embedder;
  models: ModelRegistry;
  reembeddings: ReembeddingRepository;
  events: EventBus;
  ingest: EmbedImageService;
  maxPixels: number;
  /** Progress events per re-embedding at most this often from one process (the last one always goes out). */
  progressIntervalMs?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

/**
 * Embeds one stored image again. With the active model it is a full ingest (vector, classification,
 * READY): a collection re-embedding or an image a sweep found without a vector. With a pending
 * model it only stores the new vector: the old model's answers stay live until the switch.
 */
export class ReembedImageService {
  private readonly lastPublished = new Map<string, number>();

  constructor(private readonly deps: ReembedDeps) {}

  async process(payload: ReembedImagePayload): Promise<ReembedOutcome> {
    const { images, vectors, objects, codec, embedder, models, reembeddings, ingest, maxPixels } = this.deps;
    // A job nobody will take any more: its re-embedding is over (cancelled, superseded by a newer
    // model, or complete, which leaves only duplicates), or, for a vector the active model lacked,
    // that model is no longer the active one.
    const wanted = payload.reembeddingId
      ? await reembeddings.isRunning(payload.reembeddingId)
      : payload.model === embedder.info.id || (await models.active())?.id === payload.model;
    if (!wanted) return 'gone';
    // Another model's job (models run side by side during a rolling deploy): leave it to them.
    if (payload.model !== embedder.info.id) return 'wrong-model';
    const image = await images.findById(payload.imageId);
    if (!image) return 'gone';
    if ((await models.active())?.id === embedder.info.id) {
      await ingest.process(payload.imageId);
    } else {
      const bytes = await objects.get(image.objectKey);
      const rgb = await codec.toRgb(bytes, embedder.info.inputSize, { ...embedder.info.preprocessing, maxPixels });
      const [vector] = await embedder.embed([rgb]);
      await vectors.upsert(payload.imageId, embedder.info.id, vector);
    }
    if (payload.reembeddingId) {
      await reembeddings.markItem(payload.reembeddingId, payload.imageId, 'DONE');
      await this.afterItem(payload.reembeddingId);
    }
    return 'done';
  }

  /** The job's last attempt failed: the item is FAILED, so the re-embedding can still finish. */
  async fail(payload: ReembedImagePayload, error: unknown): Promise<void> {
    if (payload.model !== this.deps.embedder.info.id) return;
    // With the active model the job was a full ingest: the image is FAILED like any other.
    if ((await this.deps.models.active())?.id === payload.model) await this.deps.ingest.fail(payload.imageId, error);
    if (!payload.reembeddingId) return;
    await this.deps.reembeddings.markItem(payload.reembeddingId, payload.imageId, 'FAILED', (error as Error).message);
    await this.afterItem(payload.reembeddingId);
  }

  private async afterItem(reembeddingId: string): Promise<void> {
    const { reembeddings, models, events } = this.deps;
    if (!(await reembeddings.hasPending(reembeddingId))) {
      if (await models.complete(reembeddingId)) this.deps.log?.('re-embedding complete', { reembeddingId });
      this.lastPublished.delete(reembeddingId);
      await events.publishReembeddingProgress({ reembeddingId });
      return;
    }
    const now = Date.now();
    if (now - (this.lastPublished.get(reembeddingId) ?? 0) < (this.deps.progressIntervalMs ?? 250)) return;
    this.lastPublished.set(reembeddingId, now);
    await events.publishReembeddingProgress({ reembeddingId });
  }
}

export interface ReembedCoordinatorDeps {
  model: ModelInfo;
  images: Pick<ImageRepository, 'findStale'>;
  /** QUEUED/PROCESSING images untouched this long have their job looked at, and re-queued if it is gone. */
  staleImageMs: number;
  models: ModelRegistry;
  reembeddings: ReembeddingRepository;
  queue: Pick<JobQueue, 'enqueueReembedImages' | 'requeueEmbedImage'>;
  events: EventBus;
  /** How long a retired model's vectors outlive the switch, for searches that began before it. */
  retiredGraceMs: number;
  /** Most images one sweep enqueues per re-embedding; jobs are idempotent, so a sweep may repeat. */
  sweepBatch?: number;
  /**
   * The checks that scan every image (READY ones without an active-model vector, unfinished ones
   * whose job is gone) run once per this long across all workers, not in each worker's sweep.
   * Left out: in every sweep.
   */
  fleetChecksEveryMs?: number;
  log?: (msg: string, extra?: Record<string, unknown>) => void;
}

/**
 * The worker's sweeper. At start-up and then periodically it (re)enqueues what is pending for this
 * worker's model (so a restart half-way resumes), completes re-embeddings with nothing left,
 * re-queues READY images that lack a vector of the active model and QUEUED/PROCESSING images whose
 * job is gone, and purges retired vectors.
 */
export class ReembedCoordinator {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private stopping = false;

  constructor(private readonly deps: ReembedCoordinatorDeps) {}

  async start(): Promise<ModelRole> {
    const role = await this.deps.models.register(this.deps.model);
    if (role.role === 'pending') this.deps.log?.('model switch: re-embedding every image before this model goes live', role);
    await this.sweep();
    return role;
  }

  /** One pass; concurrent calls share it. */
  sweep(): Promise<void> {
    if (this.stopping) return Promise.resolve();
    this.sweeping ??= this.sweepOnce().finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { model, models, reembeddings, queue, events } = this.deps;
    const batch = this.deps.sweepBatch ?? 10_000;
    for (const r of await reembeddings.running(model.id)) {
      const pending = await reembeddings.pendingImageIds(r.id, batch);
      if (pending.length > 0) {
        await queue.enqueueReembedImages(pending.map((imageId) => ({ v: 1, imageId, model: model.id, reembeddingId: r.id })));
      } else if (await models.complete(r.id)) {
        this.deps.log?.('re-embedding complete', { reembeddingId: r.id });
        await events.publishReembeddingProgress({ reembeddingId: r.id });
      }
    }
    // Only a worker of the active model takes the lease: one of another model would skip the checks.
    const fleetChecks = async () =>
      this.deps.fleetChecksEveryMs === undefined || (await reembeddings.claimSweep('active-model-checks', this.deps.fleetChecksEveryMs));
    if ((await models.active())?.id === model.id && (await fleetChecks())) {
      const missing = await reembeddings.imagesMissingVectors(model.id, batch);
      if (missing.length > 0) {
        this.deps.log?.('re-queueing READY images without a vector of the active model', { count: missing.length });
        await queue.enqueueReembedImages(missing.map((imageId) => ({ v: 1, imageId, model: model.id, reembeddingId: null })));
      }
      // A job lost with Redis' data (no AOF, a flushed database) leaves its image waiting forever.
      let requeued = 0;
      let failed: string | undefined;
      for (const imageId of await this.deps.images.findStale(this.deps.staleImageMs, 1000)) {
        if (this.stopping) return;
        try {
          if (await queue.requeueEmbedImage({ v: 1, imageId })) requeued++;
        } catch (error) {
          // E.g. another replica's sweeper re-queued it first and a worker holds it now: the rest
          // of the pass still runs.
          failed ??= (error as Error).message;
        }
      }
      if (requeued > 0) this.deps.log?.('re-queued images whose job was lost', { count: requeued });
      if (failed) this.deps.log?.('could not re-queue some stale images (next pass retries)', { error: failed });
    }
    if (this.stopping) return;
    const purged = await models.purgeRetired(this.deps.retiredGraceMs);
    if (purged.length > 0) this.deps.log?.('deleted the vectors of retired models', { models: purged });
  }

  startTimer(intervalMs: number, onError: (error: Error) => void): void {
    this.timer = setInterval(() => this.sweep().catch(onError), intervalMs);
    this.timer.unref();
  }

  /** No new pass; the one under way stops at its next image and is waited for. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.sweeping?.catch(() => {});
  }
}
