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

export async function openDatabase(config: Config, db?: SqlClient): Promise<SqlClient> {
  const client =
    db ??
    (config.DATABASE_URL
      ? await PgClient.connect(config.DATABASE_URL, config.DATABASE_POOL_SIZE, config.DATABASE_CONNECT_TIMEOUT_MS)
      : await PGliteClient.open(path.join(config.dataDir, 'pgdata'), { sharedBuffers: config.PGLITE_SHARED_BUFFERS }));
  if (config.MIGRATE_ON_START) await migrate(client);
  else await waitForMigrations(client);
  await checkPgvector(client);
  return client;
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
