import path from 'node:path';
import type { Redis } from 'ioredis';
import { LocalObjectStore } from './adapters/local-object-store.js';
import { MinioObjectStore } from './adapters/minio-object-store.js';
import { RedisEventBus } from './adapters/redis-event-bus.js';
import { SharpImageCodec } from './adapters/sharp-image-codec.js';
import type { Config } from './config.js';
import { SqlClassificationRepository } from './db/classification-repository.js';
import { SqlImageRepository } from './db/image-repository.js';
import { checkPgvector, migrate, waitForMigrations } from './db/migrate.js';
import { PgClient } from './db/pg-client.js';
import { openPGliteSizedForIndexes } from './db/pglite-buffers.js';
import { PGliteClient } from './db/pglite-client.js';
import type { SqlClient } from './db/sql-client.js';
import { PgVectorIndex } from './db/vector-index.js';
import { SqlModelRegistry } from './db/model-registry.js';
import { SqlReembeddingRepository } from './db/reembedding-repository.js';
import type { ObjectStore } from './ports.js';
import { createRedis, waitForRedis } from './queue/redis.js';

/** The adapters a process needs, chosen once from config. Each composition root builds one. */
export interface Infrastructure {
  db: SqlClient;
  images: SqlImageRepository;
  classifications: SqlClassificationRepository;
  vectors: PgVectorIndex;
  models: SqlModelRegistry;
  reembeddings: SqlReembeddingRepository;
  objects: ObjectStore;
  codec: SharpImageCodec;
  events: RedisEventBus;
  redisUrl: string;
  /** A new connection for blocking users (BullMQ workers, QueueEvents). */
  blockingRedis(): Redis;
  producerRedis: Redis;
  close(): Promise<void>;
}

/**
 * The configured database: Postgres by DATABASE_URL, else PGlite under DATA_DIR/pgdata (its buffer
 * cache by PGLITE_SHARED_BUFFERS; `auto` says through `log` when it grew it), migrated or waited for.
 */
export async function openDatabase(config: Config, db?: SqlClient, log: (message: string, fields: Record<string, unknown>) => void = () => {}): Promise<SqlClient> {
  const client = db ?? (config.DATABASE_URL ? await PgClient.connect(config.DATABASE_URL, config.DATABASE_POOL_SIZE, config.DATABASE_CONNECT_TIMEOUT_MS) : await openEmbedded(config, log));
  if (config.MIGRATE_ON_START) await migrate(client);
  else await waitForMigrations(client);
  await checkPgvector(client);
  return client;
}

async function openEmbedded(config: Config, log: (message: string, fields: Record<string, unknown>) => void): Promise<SqlClient> {
  const dataDir = path.join(config.dataDir, 'pgdata');
  if (config.PGLITE_SHARED_BUFFERS !== 'auto') return PGliteClient.open(dataDir, { sharedBuffers: config.PGLITE_SHARED_BUFFERS });
  const sized = await openPGliteSizedForIndexes(dataDir);
  if (sized.grownFromMB !== null) {
    log(`PGLITE_SHARED_BUFFERS=auto: the HNSW indexes (${sized.indexesMiB} MiB) outgrew ${sized.grownFromMB}MB, so PGlite was opened again with ${sized.sharedBuffersMB}MB (memory grows by as much)`, {
      indexesMiB: sized.indexesMiB,
      sharedBuffersMB: sized.sharedBuffersMB,
    });
  }
  return sized.client;
}

export async function openObjectStore(config: Config): Promise<ObjectStore> {
  if (config.S3_ENDPOINT) {
    return MinioObjectStore.connect({
      endpoint: config.S3_ENDPOINT,
      accessKey: config.S3_ACCESS_KEY!,
      secretKey: config.S3_SECRET_KEY!,
      bucket: config.S3_BUCKET,
      region: config.S3_REGION,
    });
  }
  return new LocalObjectStore(path.join(config.dataDir, 'objects'));
}

/** `db`: an already open database to share (one process running API and worker on PGlite). */
export async function createInfrastructure(config: Config, shared: { db?: SqlClient } = {}): Promise<Infrastructure> {
  if (!config.REDIS_URL) throw new Error('REDIS_URL is not set (the standalone launcher starts a local redis-server)');
  const redisUrl = config.REDIS_URL;
  const db = await openDatabase(config, shared.db);
  const objects = await openObjectStore(config);
  const producerRedis = createRedis(redisUrl, 'producer');
  await waitForRedis(producerRedis, redisUrl);
  const opened: Redis[] = [producerRedis];
  const blockingRedis = () => {
    const r = createRedis(redisUrl, 'blocking');
    opened.push(r);
    return r;
  };
  const events = new RedisEventBus(blockingRedis(), blockingRedis());
  return {
    db,
    images: new SqlImageRepository(db),
    classifications: new SqlClassificationRepository(db),
    vectors: new PgVectorIndex(db, { efSearch: config.HNSW_EF_SEARCH }),
    models: new SqlModelRegistry(db),
    reembeddings: new SqlReembeddingRepository(db),
    objects,
    codec: new SharpImageCodec(),
    events,
    redisUrl,
    blockingRedis,
    producerRedis,
    async close() {
      await events.close().catch(() => {});
      for (const r of opened) r.disconnect();
      if (!shared.db) await db.close();
    },
  };
}
