/** Every queue and job name in one place, shared by api and worker. */
export const QueueName = {
  Images: 'images',
} as const;

export const JobName = {
  /** Embed a stored image, store its vector, classify it. Payload: EmbedImagePayload. */
  EmbedImage: 'embed-image',
  /** Embed a query image that is not stored; return its vector. Payload: EmbedQueryPayload. */
  EmbedQuery: 'embed-query',
  /** Embed a stored image again with a given model (model switch, collection re-embedding). Payload: ReembedImagePayload. */
  ReembedImage: 'reembed-image',
} as const;
export type JobName = (typeof JobName)[keyof typeof JobName];

/**
 * BullMQ takes jobs without a priority before prioritized ones, and among prioritized ones the
 * lower number first. So every job gets one: a person waiting on a search beats the ingest backlog.
 */
export const JobPriority = {
  [JobName.EmbedQuery]: 1,
  [JobName.EmbedImage]: 10,
  // Behind new uploads: a switch in the background must not hold up what people are waiting for.
  [JobName.ReembedImage]: 20,
} as const;
