import { InvalidInputError, NotFoundError } from '@lookalike/shared/domain/errors';
import { feedOf } from '@lookalike/shared/feed';
import { type EventBus, isGap, type JobQueue, type ModelInfo, type ModelRegistry, type Reembedding, type ReembeddingEvent, type ReembeddingRepository, type SubscriptionGap } from '@lookalike/shared/ports';
import { validateCollection } from './upload-image.service.js';

/** How many jobs the API enqueues itself; the workers' sweep enqueues the rest as these finish. */
const ENQUEUE_NOW = 10_000;

/** Re-embedding as a use case: start one for a collection, read progress, follow it live. */
export class ReembedService {
  constructor(
    private readonly deps: {
      reembeddings: ReembeddingRepository;
      models: Pick<ModelRegistry, 'complete' | 'cancel'>;
      queue: Pick<JobQueue, 'enqueueReembedImages'>;
      events: EventBus;
      activeModel: () => Promise<ModelInfo | null>;
    },
  ) {}

  /** Embeds every READY or FAILED image of the collection again with the active model, and classifies it again. */
  async startForCollection(collection: string): Promise<Reembedding> {
    validateCollection(collection);
    const model = await this.deps.activeModel();
    if (!model) throw new InvalidInputError('No worker has announced a model yet: start a worker first.');
    const started = await this.deps.reembeddings.startForCollection(collection, model.id);
    if (started.total === 0) {
      await this.deps.models.complete(started.id);
      return (await this.deps.reembeddings.get(started.id))!;
    }
    const ids = await this.deps.reembeddings.pendingImageIds(started.id, ENQUEUE_NOW);
    await this.deps.queue.enqueueReembedImages(ids.map((imageId) => ({ v: 1, imageId, model: model.id, reembeddingId: started.id })));
    return started;
  }

  /** Stops a running re-embedding (for a model switch: rolls it back); subscribers see it end. */
  async cancel(id: string): Promise<Reembedding> {
    // Cancels only a RUNNING one; the state read after says what it is (unknown id: NotFoundError).
    const cancelled = await this.deps.models.cancel(id);
    const now = (await this.get(id))!;
    if (!cancelled) throw new InvalidInputError(`Re-embedding ${id} is ${now.state} already: only a RUNNING one can be cancelled.`);
    await this.deps.events.publishReembeddingProgress({ reembeddingId: id });
    return now;
  }

  /** By id, or else the running one, or else the newest. */
  async get(id?: string): Promise<Reembedding | null> {
    if (id === undefined) return this.deps.reembeddings.latest();
    const found = await this.deps.reembeddings.get(id);
    if (!found) throw new NotFoundError(`No re-embedding with id ${id}.`);
    return found;
  }

  /**
   * The current state at once, then every change until it finishes (then the stream ends).
   * Without an id: whichever re-embedding reports progress.
   */
  progress(id?: string): AsyncGenerator<Reembedding, void, undefined> {
    // feedOf: unsubscribing ends the feed at once, also while it waits for another id's event.
    return feedOf(
      () => this.deps.events.subscribeReembeddingProgress(),
      (events) => this.changes(events, id),
    );
  }

  private async *changes(events: AsyncIterableIterator<ReembeddingEvent | SubscriptionGap>, id?: string): AsyncGenerator<Reembedding> {
    if (id !== undefined) {
      const current = await this.get(id);
      if (!current) return;
      yield current;
      if (current.state !== 'RUNNING') return;
    }
    for await (const event of events) {
      // After a gap (progress lost while Redis was away) the state is read again: of the one
      // re-embedding followed, or else of the running (or newest) one.
      const reembeddingId = isGap(event) ? (id ?? (await this.deps.reembeddings.latest())?.id) : event.reembeddingId;
      if (reembeddingId === undefined || (id !== undefined && reembeddingId !== id)) continue;
      const current = await this.deps.reembeddings.get(reembeddingId);
      if (!current) continue;
      yield current;
      if (id !== undefined && current.state !== 'RUNNING') return;
    }
  }
}
