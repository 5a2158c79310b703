import { EventEmitter, on } from 'node:events';
import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Redis } from 'ioredis';
import { type ClassificationEvent, type EventBus, type ReembeddingEvent, SUBSCRIPTION_GAP, type SubscriptionGap } from '../ports.js';

const CLASSIFICATION_READY = 'lookalike.classificationReady';
const REEMBEDDING_PROGRESS = 'lookalike.reembeddingProgress';

/** An event as it arrives over pub/sub: JSON, so its dates are ISO strings. */
type WireClassificationEvent = Omit<ClassificationEvent, 'result'> & {
  result?: {
    classification: Omit<NonNullable<ClassificationEvent['result']>['classification'], 'createdAt'> & { createdAt: string };
    image: Omit<NonNullable<ClassificationEvent['result']>['image'], 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };
  };
};

/** Dates back from their JSON strings; only the fields known to be dates (metadata is the user's JSON). */
export function reviveClassificationEvent(event: WireClassificationEvent): ClassificationEvent {
  if (!event.result) return event as ClassificationEvent;
  const { classification, image } = event.result;
  return {
    ...event,
    result: {
      classification: { ...classification, createdAt: new Date(classification.createdAt) },
      image: { ...image, createdAt: new Date(image.createdAt), updatedAt: new Date(image.updatedAt) },
    },
  };
}

/** Marks, in a subscription's buffer, where the connection was lost and made again. */
const GAP = Symbol('gap');

/**
 * Events a subscription may hold unread. A client that reads slower than events come (a stalled
 * websocket) would otherwise make its API process buffer every event for ever; past this it gets
 * what is held, then an error, and its subscription ends (Redis' own client-output-buffer-limit
 * for pub/sub does the same to a slow subscriber).
 */
export const MAX_UNREAD_EVENTS = 2000;

/** Puts a message, or a gap mark, into one subscription's buffer. */
type Push = (message: unknown) => void;

/**
 * Subscribes to `channel` and resolves once Redis has acknowledged it: every message published
 * after that is buffered until read (up to `maxUnread`). (graphql-redis-subscriptions' own
 * iterator subscribes only on its first next(), so a caller that reads the database between
 * subscribing and iterating could miss the event it is waiting for.) `live` holds its push while
 * it is open, for gap marks. return() unsubscribes.
 */
async function subscribed<W, T>(
  pubsub: RedisPubSub,
  live: Set<Push>,
  channel: string,
  map: (message: W) => T,
  maxUnread: number,
): Promise<AsyncIterableIterator<T | SubscriptionGap>> {
  const emitter = new EventEmitter();
  const messages = on(emitter, 'message') as AsyncIterableIterator<[W | typeof GAP]>;
  let unread = 0;
  let overflowed = false;
  const push: Push = (message) => {
    if (overflowed) return;
    if (unread >= maxUnread) {
      // `on` hands out what it holds, then this error, and stops taking events.
      overflowed = true;
      emitter.emit('error', new Error(`Subscription ended: the client read too slowly (${maxUnread} events waiting).`));
      return;
    }
    unread++;
    emitter.emit('message', message);
  };
  let id: number;
  try {
    id = await pubsub.subscribe(channel, push);
  } catch (error) {
    await messages.return?.();
    throw error;
  }
  live.add(push);
  let open = true;
  const iterator: AsyncIterableIterator<T | SubscriptionGap> = {
    async next() {
      const r = await messages.next();
      if (r.done) return { done: true, value: undefined };
      unread--;
      const [message] = r.value;
      return { done: false, value: message === GAP ? SUBSCRIPTION_GAP : map(message) };
    },
    async return() {
      if (open) {
        open = false;
        live.delete(push);
        pubsub.unsubscribe(id);
      }
      await messages.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** Redis pub/sub: an event published by any worker reaches subscribers on every API replica. */
export class RedisEventBus implements EventBus {
  private readonly pubsub: RedisPubSub;
  /** How to reach each open subscription's buffer (for gap marks). */
  private readonly live = new Set<Push>();

  constructor(
    publisher: Redis,
    subscriber: Redis,
    private readonly maxUnread = MAX_UNREAD_EVENTS,
  ) {
    this.pubsub = new RedisPubSub({
      // graphql-redis-subscriptions is typed against its own ioredis; the clients are compatible.
      publisher: publisher as never,
      subscriber: subscriber as never,
    });
    // ioredis subscribes again by itself after a reconnect, but what was published while it was
    // away is lost: each open subscription gets a gap mark, once its SUBSCRIBE is answered again
    // (a PING on the same connection is answered after it).
    let lost = false;
    subscriber.on('close', () => (lost = true));
    subscriber.on('ready', () => {
      if (!lost) return;
      lost = false;
      subscriber.ping().then(
        () => {
          for (const push of this.live) push(GAP);
        },
        () => {}, // lost again: the next 'ready' marks the gap
      );
    });
  }

  publishClassificationReady(event: ClassificationEvent): Promise<void> {
    return this.pubsub.publish(CLASSIFICATION_READY, event);
  }

  subscribeClassificationReady(): Promise<AsyncIterableIterator<ClassificationEvent | SubscriptionGap>> {
    return subscribed(this.pubsub, this.live, CLASSIFICATION_READY, reviveClassificationEvent, this.maxUnread);
  }

  publishReembeddingProgress(event: ReembeddingEvent): Promise<void> {
    return this.pubsub.publish(REEMBEDDING_PROGRESS, event);
  }

  subscribeReembeddingProgress(): Promise<AsyncIterableIterator<ReembeddingEvent | SubscriptionGap>> {
    return subscribed(this.pubsub, this.live, REEMBEDDING_PROGRESS, (event: ReembeddingEvent) => event, this.maxUnread);
  }

  async close(): Promise<void> {
    await this.pubsub.close();
  }
}
