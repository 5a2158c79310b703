import client from 'prom-client';
import { FAILURE_REASONS, type FailureReason, type JobOutcome, type Metrics, type Outcome, QUEUE_STATES, type QueueCounts, type SearchInput, type SearchQuery } from '../metrics.js';
import { JobName } from '../queue/names.js';

/** Job names outside this set are reported as `other`, so a stray job name cannot grow the label set. */
const KNOWN_JOBS = new Set<string>(Object.values(JobName));
const KNOWN_OPERATIONS = new Set(['uploadImage', 'similarImages', 'classify']);

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface PromMetricsOptions {
  /** prom-client's default process metrics (CPU, memory, event loop lag, GC, handles). Default true. */
  defaultMetrics?: boolean;
}

/**
 * The Metrics port on prom-client, with a registry of its own: never the global default one, so
 * several services can live in one process (as in the tests) without "already registered".
 * Everything is named lookalike_*; prom-client's default process metrics keep their usual names.
 */
export class PromMetrics implements Metrics {
  readonly registry = new client.Registry();
  private readonly queues = new Map<string, () => Promise<QueueCounts>>();
  private readonly jobDuration: client.Histogram<'job' | 'outcome'>;
  private readonly jobFailures: client.Counter<'job' | 'reason' | 'final'>;
  private readonly batchDuration: client.Histogram;
  private readonly batchSize: client.Histogram;
  private readonly imageDuration: client.Histogram;
  private readonly searchDuration: client.Histogram<'query' | 'input' | 'outcome'>;
  private readonly requestFailures: client.Counter<'operation' | 'reason'>;

  constructor(options: PromMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) client.collectDefaultMetrics({ register: this.registry });
    const queues = this.queues;
    new client.Gauge({
      name: 'lookalike_queue_depth',
      help: 'Jobs in each BullMQ state, read from the queue when scraped (completed and failed: those the queue still keeps).',
      labelNames: ['queue', 'state'] as const,
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          [...queues].map(async ([queue, counts]) => {
            // Redis away: the queue's series are missing from this scrape, the rest still answers.
            const c = await counts().catch(() => null);
            if (!c) return;
            for (const state of QUEUE_STATES) this.set({ queue, state }, c[state] ?? 0);
          }),
        );
      },
    });
    this.jobDuration = new client.Histogram({
      name: 'lookalike_job_duration_seconds',
      help: 'Time one attempt of a job took in this worker, by job name and outcome (completed, failed, delayed).',
      labelNames: ['job', 'outcome'] as const,
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.jobFailures = new client.Counter({
      name: 'lookalike_job_failures_total',
      help: `Failed job attempts by job name and reason (${FAILURE_REASONS.join(', ')}); final="true": no retry follows.`,
      labelNames: ['job', 'reason', 'final'] as const,
      registers,
    });
    this.batchDuration = new client.Histogram({
      name: 'lookalike_embed_batch_duration_seconds',
      help: 'Time one model call (one batch of images) took.',
      buckets: [0.001, ...SECONDS_BUCKETS],
      registers,
    });
    this.batchSize = new client.Histogram({
      name: 'lookalike_embed_batch_size',
      help: 'Images per model call.',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
      registers,
    });
    this.imageDuration = new client.Histogram({
      name: 'lookalike_embed_image_duration_seconds',
      help: 'Per image: from being handed to the batcher to its vector (waiting for a batch and the model call).',
      buckets: [0.001, ...SECONDS_BUCKETS],
      registers,
    });
    this.searchDuration = new client.Histogram({
      name: 'lookalike_search_duration_seconds',
      help: 'similarImages and classify queries on the API, by query, input (image_id or upload) and outcome (ok, error).',
      labelNames: ['query', 'input', 'outcome'] as const,
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.requestFailures = new client.Counter({
      name: 'lookalike_request_failures_total',
      help: `Failed API operations (uploadImage, similarImages, classify) by reason (${FAILURE_REASONS.join(', ')}).`,
      labelNames: ['operation', 'reason'] as const,
      registers,
    });
  }

  /** The Content-Type of `render()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format, for GET /metrics. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Reports `counts()` as lookalike_queue_depth{queue=name} on every scrape; a second call with the
   * same name replaces the first. Returns a function that stops reporting it (only if still this one).
   */
  watchQueue(name: string, counts: () => Promise<QueueCounts>): () => void {
    this.queues.set(name, counts);
    return () => {
      if (this.queues.get(name) === counts) this.queues.delete(name);
    };
  }

  jobFinished(job: string, outcome: JobOutcome, seconds: number): void {
    this.jobDuration.observe({ job: jobLabel(job), outcome }, seconds);
  }

  jobFailed(job: string, reason: FailureReason, final: boolean): void {
    this.jobFailures.inc({ job: jobLabel(job), reason, final: String(final) });
  }

  batchEmbedded(size: number, seconds: number): void {
    this.batchSize.observe(size);
    this.batchDuration.observe(seconds);
  }

  imageEmbedded(seconds: number): void {
    this.imageDuration.observe(seconds);
  }

  searchFinished(query: SearchQuery, input: SearchInput, outcome: Outcome, seconds: number): void {
    this.searchDuration.observe({ query, input, outcome }, seconds);
  }

  requestFailed(operation: string, reason: FailureReason): void {
    this.requestFailures.inc({ operation: KNOWN_OPERATIONS.has(operation) ? operation : 'other', reason });
  }
}

function jobLabel(job: string): string {
  return KNOWN_JOBS.has(job) ? job : 'other';
}

