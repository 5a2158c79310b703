import { InvalidImageError, InvalidInputError, NotFoundError } from './domain/errors.js';

/**
 * What the service measures, as a port: resolvers, the batcher and the job transport record through
 * `Metrics`; only composition roots create the prom-client implementation (adapters/prom-metrics.ts),
 * one registry per process.
 */

/** Why a job or a request failed: a small fixed set derived from the error's class or code, never its message text. */
export const FAILURE_REASONS = ['decode', 'too_large', 'invalid_input', 'not_found', 'db', 'storage', 'queue', 'network', 'model', 'timeout', 'other'] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

/** How one attempt of a job ended; `delayed`: handed back to the queue without spending an attempt (another model's job). */
export type JobOutcome = 'completed' | 'failed' | 'delayed';
export type SearchQuery = 'similarImages' | 'classify';
/** What the search started from: a stored image's vector, or an uploaded picture a worker embeds first. */
export type SearchInput = 'image_id' | 'upload';
export type Outcome = 'ok' | 'error';

export interface Metrics {
  /** One attempt of a job ran for `seconds`. */
  jobFinished(job: string, outcome: JobOutcome, seconds: number): void;
  /** One attempt of a job failed; `final`: no attempt follows (unrecoverable, or the last one). */
  jobFailed(job: string, reason: FailureReason, final: boolean): void;
  /** One model call of `size` images took `seconds`. */
  batchEmbedded(size: number, seconds: number): void;
  /** One image's vector came back `seconds` after it was handed to the batcher (waiting for company included). */
  imageEmbedded(seconds: number): void;
  /** One similarImages or classify query on the API. */
  searchFinished(query: SearchQuery, input: SearchInput, outcome: Outcome, seconds: number): void;
  /** An API operation (uploadImage, similarImages, classify) failed. */
  requestFailed(operation: string, reason: FailureReason): void;
}

/** Records nothing: the default where no registry is wired (unit tests, scripts). */
export const noopMetrics: Metrics = {
  jobFinished() {},
  jobFailed() {},
  batchEmbedded() {},
  imageEmbedded() {},
  searchFinished() {},
  requestFailed() {},
};

/** The BullMQ states reported as queue depth. `completed` and `failed` count what the queue still keeps (removeOnComplete/Fail). */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];
export type QueueCounts = Partial<Record<QueueState, number>>;

const REASON = Symbol.for('lookalike.failureReason');

/** Marks an error with the reason it stands for, where its class cannot tell (the batcher marks model errors). */
export function markFailure<E>(error: E, reason: FailureReason): E {
  if (typeof error === 'object' && error !== null && Object.isExtensible(error)) {
    Object.defineProperty(error, REASON, { value: reason, enumerable: false, configurable: true });
  }
  return error;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
const QUEUE_ERRORS = new Set(['MaxRetriesPerRequestError', 'ReplyError', 'AbortError']);

/** The failure reason of an error, from its class, code or mark; `other` when nothing fits. */
export function failureReason(error: unknown): FailureReason {
  if (typeof error !== 'object' || error === null) return 'other';
  const marked = (error as { [REASON]?: FailureReason })[REASON];
  if (marked) return marked;
  const e = error as { name?: unknown; code?: unknown; severity?: unknown; syscall?: unknown; message?: unknown; details?: Record<string, unknown> };
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : '';
  const message = typeof e.message === 'string' ? e.message : '';
  if (error instanceof InvalidInputError) {
    // The codec and the upload check name their limits in the details, or else in the message.
    if (e.details?.maxPixels !== undefined || /pixel limit|upload limit/i.test(message)) return 'too_large';
    return error instanceof InvalidImageError ? 'decode' : 'invalid_input';
  }
  if (error instanceof NotFoundError || code === 'ENOENT' || code === 'NoSuchKey' || code === 'NotFound') return 'not_found';
  // Postgres (pg, PGlite): a five-character SQLSTATE next to a severity.
  if ((/^[0-9A-Z]{5}$/.test(code) && e.severity !== undefined) || error.constructor?.name === 'DatabaseError') return 'db';
  if (/^Connection terminated|timeout exceeded when trying to connect/.test(message)) return 'db';
  if (name === 'S3Error' || (typeof e.syscall === 'string' && !NETWORK_CODES.has(code))) return 'storage';
  if (QUEUE_ERRORS.has(name) || /enableOfflineQueue|Connection is closed/.test(message)) return 'queue';
  if (NETWORK_CODES.has(code)) return 'network';
  if (name === 'TimeoutError' || /timed out|timeout exceeded/i.test(message)) return 'timeout';
  return 'other';
}

/** A metrics registry as an HTTP endpoint sees it: GET /metrics sends what it renders (PromMetrics is one). */
export interface MetricsSource {
  readonly contentType: string;
  render(): Promise<string>;
}
