import type { ClassificationRecord, ImageRecord } from '@lookalike/shared/domain/image';
import { feedOf } from '@lookalike/shared/feed';
import { type ClassificationEvent, type ClassificationRepository, type EventBus, isGap, type SubscriptionGap } from '@lookalike/shared/ports';

/** A result on its way to a subscriber, with the image row when the event carried it. */
export type DeliveredClassification = ClassificationRecord & { image?: ImageRecord };

/**
 * How far apart the clocks of the API and worker hosts may be. A collection feed catching up after
 * a gap reads back from this long before the last result it delivered (or before it began).
 */
export const CLOCK_MARGIN_MS = 5_000;
const CATCH_UP_PAGE = 500;

/**
 * The results a collection feed delivered lately, by image and time: what catching up after a gap
 * reads back may already have come as an event, and an event may come after it was read back.
 */
export class RecentlyDelivered {
  private readonly keys = new Map<string, number>();
  /** The newest result delivered (the savers' clock), or when the feed began. */
  newest: number;

  constructor(startedAt: number) {
    this.newest = startedAt;
  }

  /**
   * True the first time a result is seen. Results are remembered until they are CLOCK_MARGIN_MS
   * older than the newest: a read back starts there, so an older one can come only once more.
   */
  add(result: ClassificationRecord): boolean {
    const at = result.createdAt.getTime();
    const key = `${result.imageId}@${at}`;
    if (this.keys.has(key)) return false;
    this.keys.set(key, at);
    if (at > this.newest) this.newest = at;
    for (const [k, t] of this.keys) {
      if (t >= this.newest - CLOCK_MARGIN_MS) break; // insertion order is about time order
      this.keys.delete(k);
    }
    return true;
  }

  get size(): number {
    return this.keys.size;
  }
}

/**
 * Subscribes first, then looks for a result that already exists, so a client that subscribes by
 * imageId after the worker finished still gets it: no lost race. A result is delivered once.
 * Events carry what the worker saved; older ones (no `result`) are read from the database.
 * After a gap (Redis was away, events were lost) a feed by imageId reads its result again, and a
 * feed of a collection (or of everything) reads back the results saved since the last one it
 * delivered. Unsubscribing ends it at once, also while it waits (feedOf).
 */
export function classificationFeed(
  deps: { events: EventBus; classifications: ClassificationRepository },
  filter: { imageId?: string; collection?: string },
): AsyncGenerator<DeliveredClassification, void, undefined> {
  return feedOf(
    () => deps.events.subscribeClassificationReady(),
    (events) => (filter.imageId ? imageFeed(deps, filter.imageId, events) : collectionFeed(deps, filter.collection, events)),
  );
}

type Events = AsyncIterableIterator<ClassificationEvent | SubscriptionGap>;

async function* imageFeed(deps: { classifications: ClassificationRepository }, imageId: string, events: Events): AsyncGenerator<DeliveredClassification> {
  let lastDelivered = 0;
  const existing = await deps.classifications.findByImageId(imageId);
  if (existing) {
    lastDelivered = existing.createdAt.getTime();
    yield existing;
  }
  for await (const event of events) {
    if (!isGap(event) && event.imageId !== imageId) continue;
    // After a gap the result is read again: its event may have been lost.
    const result = isGap(event) ? await deps.classifications.findByImageId(imageId) : await carried(deps, event);
    if (!result || result.createdAt.getTime() <= lastDelivered) continue;
    lastDelivered = result.createdAt.getTime();
    yield result;
  }
}

async function* collectionFeed(
  deps: { classifications: ClassificationRepository },
  collection: string | undefined,
  events: Events,
): AsyncGenerator<DeliveredClassification> {
  const delivered = new RecentlyDelivered(Date.now());
  for await (const event of events) {
    if (isGap(event)) {
      yield* catchUp(deps, collection, delivered);
      continue;
    }
    if (collection && event.collection !== collection) continue;
    const result = await carried(deps, event);
    if (result && delivered.add(result)) yield result;
  }
}

/** Every result saved since the newest delivered (less the clock margin), oldest first, not delivered yet. */
async function* catchUp(
  deps: { classifications: ClassificationRepository },
  collection: string | undefined,
  delivered: RecentlyDelivered,
): AsyncGenerator<DeliveredClassification> {
  const since = new Date(delivered.newest - CLOCK_MARGIN_MS);
  let after: { createdAt: Date; imageId: string } | undefined;
  for (;;) {
    const page = await deps.classifications.savedSince({ since, collection, after, limit: CATCH_UP_PAGE });
    for (const { classification, image } of page) {
      if (delivered.add(classification)) yield { ...classification, image };
    }
    if (page.length < CATCH_UP_PAGE) return;
    const last = page[page.length - 1].classification;
    after = { createdAt: last.createdAt, imageId: last.imageId };
  }
}

/** The result an event carries, or, from a worker that predates that, the one saved. */
function carried(deps: { classifications: ClassificationRepository }, event: ClassificationEvent): Promise<DeliveredClassification | null> {
  return event.result ? Promise.resolve({ ...event.result.classification, image: event.result.image }) : deps.classifications.findByImageId(event.imageId);
}
