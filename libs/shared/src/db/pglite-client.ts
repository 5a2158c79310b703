import fs from 'node:fs/promises';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
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

  /** `dataDir` undefined keeps the database in memory (tests). */
  static async open(dataDir?: string): Promise<PGliteClient> {
    if (dataDir) await fs.mkdir(dataDir, { recursive: true });
    const pglite = await PGlite.create({ dataDir, extensions: { vector } });
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
