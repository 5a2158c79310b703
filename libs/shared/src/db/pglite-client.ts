import fs from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pgvector from 'pgvector';
import { applyLocalSettings, type SqlClient, type TransactionOptions } from './sql-client.js';

type Queryable = Pick<PGlite, 'query' | 'exec'> | Transaction;

class PGliteQueryable implements SqlClient {
  constructor(protected readonly db: Queryable) {}

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.db.query<T>(sql, params as unknown[]);
    return result.rows;
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  /** PGlite sends every parameter as text (a Buffer would arrive as bytes of text). */
  vectorParam(vector: Float32Array): string {
    return pgvector.toSql(Array.from(vector));
  }

  async transaction<R>(fn: (tx: SqlClient) => Promise<R>, options?: TransactionOptions): Promise<R> {
    // PGlite has one connection: a nested transaction would deadlock, so run inline.
    await applyLocalSettings(this, options);
    return fn(this);
  }

  async close(): Promise<void> {}
}

export class PGliteClient extends PGliteQueryable {
  private constructor(private readonly pglite: PGlite) {
    super(pglite);
  }

  /**
   * `dataDir` undefined keeps the database in memory (tests). `sharedBuffers` (e.g. `1GB`) is
   * Postgres' buffer cache: unset, PGlite's 128MB. A page PGlite does not find there is read
   * through Emscripten's file system, in JavaScript, and costs far more than a real Postgres's
   * read from the OS cache; an HNSW scan reads thousands of pages, so a search is fastest when the
   * index fits. The whole cache is allocated at start.
   */
  static async open(dataDir?: string, options: { sharedBuffers?: string } = {}): Promise<PGliteClient> {
    if (dataDir) await fs.mkdir(dataDir, { recursive: true });
    // A server flag, not postgresql.conf: PGlite's `postgresqlconf` would overwrite the file initdb wrote.
    const startParams = options.sharedBuffers ? [...PGlite.defaultStartParams, '-c', `shared_buffers=${options.sharedBuffers}`] : undefined;
    const pglite = await PGlite.create({ dataDir, extensions: { vector }, startParams });
    return new PGliteClient(pglite);
  }

  /** The PGlite instance, for serving it over the wire (pglite-socket) in tests and tools. */
  get instance(): PGlite {
    return this.pglite;
  }

  override transaction<R>(fn: (tx: SqlClient) => Promise<R>, options?: TransactionOptions): Promise<R> {
    return this.pglite.transaction(async (tx) => {
      const inside = new PGliteQueryable(tx);
      if (options?.readOnly) await inside.query('SET TRANSACTION READ ONLY');
      await applyLocalSettings(inside, options);
      return fn(inside);
    });
  }

  override async close(): Promise<void> {
    if (!this.pglite.closed) await this.pglite.close();
  }
}
