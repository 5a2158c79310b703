import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
/** The most PGLITE_SHARED_BUFFERS may be, MiB: PGlite has 2 GiB in all, and at 2GB it does not start. */
export const PGLITE_SHARED_BUFFERS_MAX_MB = 1536;
/** A Postgres memory size (`512kB`, `128MB`, `1GB`) in MiB. */
const sizeMiB = (size: string) => Number.parseInt(size, 10) * ({ kB: 1 / 1024, MB: 1, GB: 1024 }[size.replace(/^[0-9]+/, '')] ?? Number.NaN);

const schema = z
  .object({
    NODE_ENV: z.string().default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    HOST: z.string().default('0.0.0.0'),
    PORT: int(0, 65535).default(4000),
    /** Where the embedded database, local originals and the local redis-server keep their files. */
    DATA_DIR: z.string().default('.data'),
    /** Postgres with pgvector. Unset: embedded PGlite under DATA_DIR/pgdata. */
    DATABASE_URL: z.string().url().optional(),
    DATABASE_POOL_SIZE: int(1, 200).default(10),
    /**
     * Embedded PGlite's buffer cache (DATABASE_URL unset), allocated at start. PGlite reads a page
     * it does not hold there through JavaScript, so searches are fastest when the HNSW index fits:
     * about 8 KiB per 1024-d vector (bench:load: 100k vectors, 781 MiB; 1GB halves the search time).
     * `auto`: PGlite's 128MB, or, when the indexes found at start are larger, room for them and a
     * quarter more, up to 1GB (db/pglite-buffers.ts). WebAssembly caps PGlite's memory at 2 GiB,
     * index builds and queries included.
     */
    PGLITE_SHARED_BUFFERS: z
      .string()
      .regex(/^(auto|[1-9][0-9]*(kB|MB|GB))$/, 'must be auto or a size such as 128MB or 1GB')
      // 2GB and over, PGlite fails to start with no reason given; keep room for queries and builds.
      // auto and non-sizes are NaN here and pass: a non-size gets the regex's message alone.
      .refine((size) => !(sizeMiB(size) > PGLITE_SHARED_BUFFERS_MAX_MB), `at most ${PGLITE_SHARED_BUFFERS_MAX_MB}MB: PGlite has 2 GiB of memory in all, queries and index builds included`)
      .default('auto'),
    /** Opening a database connection, or waiting for a free one in the pool, fails after this long. */
    DATABASE_CONNECT_TIMEOUT_MS: int(100, 600_000).default(10_000),
    /** false: leave migrations to `npm run migrate` (compose/k8s one-shot job) and wait until they have run. */
    MIGRATE_ON_START: bool.default(true),
    /** Unset: the launcher starts a local redis-server under DATA_DIR/redis. */
    REDIS_URL: z.string().url().optional(),
    S3_ENDPOINT: z.string().url().optional(),
    S3_ACCESS_KEY: z.string().optional(),
    S3_SECRET_KEY: z.string().optional(),
    S3_BUCKET: z.string().default('lookalike'),
    S3_REGION: z.string().default('us-east-1'),
    QUEUE_PREFIX: z.string().default('bull'),
    MAX_UPLOAD_BYTES: int(1).default(20 * 1024 * 1024),
    MAX_IMAGE_PIXELS: int(1).default(50_000_000),
    /** Neighbours that vote on a label. */
    KNN_K: int(1, 100).default(5),
    /** 150: at 100k vectors recall@5 0.96–0.985 (by HNSW build) with a GraphQL p99 of 10 ms (100: 0.94, 11 ms; bench:load). */
    HNSW_EF_SEARCH: int(1, 1000).default(150),
    /** `densenet121` in production; `tiny` is the small DenseNet the tests inject. */
    MODEL: z.enum(['densenet121', 'tiny']).default('densenet121'),
    MODEL_SEED: int(0).default(1),
    /** `random`, a path or http(s) URL of a Keras .h5 / tfjs model.json; unset: fetch the official Keras file. */
    MODEL_WEIGHTS: z.string().optional(),
    /** `nearest` matches Keras' load_img exactly; `bilinear` is Keras' image resize default. */
    MODEL_RESIZE: z.enum(['bilinear', 'nearest']).default('bilinear'),
    MODEL_CROP: z.enum(['none', 'center']).default('none'),
    /** Where fetched weights and converted ONNX graphs are kept. Unset: DATA_DIR/models. */
    MODEL_CACHE_DIR: z.string().min(1).optional(),
    /** `auto`: the fastest that starts here (onnx-cpu, tfjs-node, tfjs-wasm, tfjs-cpu; GPU ones first when an NVIDIA GPU is seen). */
    MODEL_RUNTIME: z.enum(['auto', 'onnx-cpu', 'onnx-cuda', 'tfjs-node-gpu', 'tfjs-node', 'tfjs-wasm', 'tfjs-cpu']).default('auto'),
    /** ONNX Runtime intra-op threads per model host. */
    MODEL_THREADS: int(1, 256).default(1),
    /** Worker probes (GET /healthz, /readyz) on this port; unset: none (several workers on one machine). */
    WORKER_HTTP_PORT: int(0, 65535).optional(),
    /**
     * Model hosts (threads, each with its own copy of the model) per worker. `auto`: one per
     * MODEL_THREADS-sized share of the cores on CPU runtimes, one on a GPU.
     */
    MODEL_HOSTS: z.union([z.literal('auto'), int(1, 64)]).default('auto'),
    /** Jobs a worker holds at once; they feed the batcher. Unset: 2 × EMBED_BATCH × model hosts, so a batch fills while each host computes. */
    WORKER_CONCURRENCY: int(1, 1024).optional(),
    /** Most images per model call, and how long the first image of a batch waits for more. */
    EMBED_BATCH: int(1, 256).default(8),
    EMBED_BATCH_WAIT_MS: int(0, 10_000).default(10),
    /** BullMQ lock per job, renewed at half this by the worker's event loop (the model runs elsewhere). */
    WORKER_LOCK_MS: int(100).default(30_000),
    /** How often a worker re-queues pending re-embedding work, finishes switches and purges retired vectors. */
    REEMBED_SWEEP_MS: int(100).default(30_000),
    /** A retired model's vectors are deleted this long after the switch (searches already running finish on them). */
    RETIRED_VECTORS_GRACE_MS: int(0).default(30_000),
    /** A QUEUED/PROCESSING image untouched this long gets its job checked, and re-queued when it was lost. */
    STALE_IMAGE_MS: int(1000).default(600_000),
    JOB_ATTEMPTS: int(1, 100).default(5),
    JOB_BACKOFF_MS: int(0).default(1000),
    QUERY_TIMEOUT_MS: int(100).default(60_000),
    SHUTDOWN_TIMEOUT_MS: int(100).default(25_000),
    /** Base for `Image.url`; defaults to http://localhost:PORT. */
    PUBLIC_URL: z.string().url().optional(),
    /** The launcher may `apt-get install redis-server` when it is missing. */
    ALLOW_APT_INSTALL: bool.default(true),
    /** Prometheus text on GET /metrics: on the API's port, and on the worker's WORKER_HTTP_PORT. */
    METRICS: bool.default(true),
    /**
     * Bull Board, the BullMQ job dashboard, on the API at BULL_BOARD_PATH. It has no auth of its own
     * and can retry and delete jobs: enable it only behind your ingress's auth.
     */
    BULL_BOARD: bool.default(false),
    BULL_BOARD_PATH: z
      .string()
      .regex(/^\/[A-Za-z0-9._~\/-]*[A-Za-z0-9._~-]$/, 'must be a URL path such as /admin/queues (no trailing slash)')
      .refine((p) => !['/graphql', '/healthz', '/metrics', '/images'].some((r) => p === r || p.startsWith(`${r}/`)), 'must not shadow an API route')
      .default('/admin/queues'),
  })
  .superRefine((c, ctx) => {
    if (c.S3_ENDPOINT && (!c.S3_ACCESS_KEY || !c.S3_SECRET_KEY)) {
      ctx.addIssue({ code: 'custom', path: ['S3_ACCESS_KEY'], message: 'S3_ENDPOINT is set: S3_ACCESS_KEY and S3_SECRET_KEY are required too' });
    }
  });

export type Config = z.infer<typeof schema> & { dataDir: string; publicUrl: string };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment once, at start-up; every problem is named in one message. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset" (docker-compose and k8s often pass them).
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  return {
    ...c,
    dataDir: path.resolve(c.DATA_DIR),
    publicUrl: (c.PUBLIC_URL ?? `http://localhost:${c.PORT}`).replace(/\/$/, ''),
  };
}
