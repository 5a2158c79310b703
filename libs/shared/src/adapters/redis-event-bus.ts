import { RedisPubSub } from 'graphql-redis-subscriptions';
import type { Redis } from 'ioredis';
import type { ClassificationEvent, EventBus, ReembeddingEvent } from '../ports.js';

const CLASSIFICATION_READY = 'lookalike.classificationReady';
const REEMBEDDING_PROGRESS = 'lookalike.reembeddingProgress';

/** Redis pub/sub: an event published by any worker reaches subscribers on every API replica. */
export class RedisEventBus implements EventBus {
  private readonly pubsub: RedisPubSub;

  constructor(publisher: Redis, subscriber: Redis) {
    this.pubsub = new RedisPubSub({
      // graphql-redis-subscriptions is typed against its own ioredis; the clients are compatible.
      publisher: publisher as never,
      subscriber: subscriber as never,
    });
  }

  publishClassificationReady(event: ClassificationEvent): Promise<void> {
    return this.pubsub.publish(CLASSIFICATION_READY, event);
  }

  subscribeClassificationReady(): AsyncIterableIterator<ClassificationEvent> {
    return this.pubsub.asyncIterableIterator<ClassificationEvent>(CLASSIFICATION_READY);
  }

  publishReembeddingProgress(event: ReembeddingEvent): Promise<void> {
    return this.pubsub.publish(REEMBEDDING_PROGRESS, event);
  }

  subscribeReembeddingProgress(): AsyncIterableIterator<ReembeddingEvent> {
    return this.pubsub.asyncIterableIterator<ReembeddingEvent>(REEMBEDDING_PROGRESS);
  }

  async close(): Promise<void> {
    await this.pubsub.close();
  }
}
