import type { EmbedImagePayload, EmbedQueryPayload, ReembedImagePayload } from '../ports.js';

/**
 * Fields every job's data may carry beside its versioned payload, so a worker's log lines can be
 * joined to the API request that caused the job. Optional: jobs enqueued by an older API, and those
 * the workers' sweeps enqueue on their own, have none; a worker treats them as it always did.
 */
export interface JobTrace {
  /** The x-request-id of the API request that enqueued the job. */
  requestId?: string;
}

export type EmbedImageJobData = EmbedImagePayload & JobTrace;
export type EmbedQueryJobData = EmbedQueryPayload & JobTrace;
export type ReembedImageJobData = ReembedImagePayload & JobTrace;

/** The request id in a job's data, when there is a usable one (data from Redis is not trusted to be well-formed). */
export function requestIdOf(data: unknown): string | undefined {
  const id = typeof data === 'object' && data !== null ? (data as JobTrace).requestId : undefined;
  return typeof id === 'string' && id.length > 0 && id.length <= 128 ? id : undefined;
}

/** `payload` with the request id of the work in progress, unless it has one already or there is none. */
export function withRequestId<P extends JobTrace>(payload: P, requestId: string | undefined): P {
  return payload.requestId !== undefined || requestId === undefined ? payload : { ...payload, requestId };
}
