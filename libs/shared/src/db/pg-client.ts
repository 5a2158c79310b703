import pg from 'pg';
import { applyLocalSettings, localSettingsSql, type SqlClient, type TransactionOptions } from './sql-client.js';

class PgQueryable implements SqlClient {
  constructor(protected readonly db: pg.Pool | pg.PoolClient) {}

  async query<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    const result = await this.db.query(sql, params as unknown[]);
    return result.rows as T[];
  }

  async exec(sql: string): Promise<void> {
    await this.db.query(sql);
  }

  /** pgvector's binary input (vector_recv): int16 dimension, int16 unused, big-endian float4s. `pg` sends a Buffer as binary. */
  vectorParam(vector: Float32Array): Buffer {
    const bytes = Buffer.allocUnsafe(4 + 4 * vector.length);
    bytes.writeInt16BE(vector.length, 0);
    bytes.writeInt16BE(0, 2);
    for (let i = 0; i < vector.length; i++) bytes.writeFloatBE(vector[i], 4 + 4 * i);
    return bytes;
  }

  /** Already inside a transaction (PgClient opens it): the settings join that one. */
  async transaction<R>(fn: (tx: SqlClient) => Promise<R>, options?: TransactionOptions): Promise<R> {
    await applyLocalSettings(this, options);
    return fn(this);
  }

  async close(): Promise<void> {}
}

/** Postgres + pgvector over the wire (`DATABASE_URL`): compose, k8s, and PGlite served by pglite-socket. */
export class PgClient extends PgQueryable {
  private constructor(private readonly pool: pg.Pool) {
    super(pool);
  }

  /**
   * `connectTimeoutMs` bounds opening a connection and waiting for a free one: a database host
   * that drops packets fails requests and jobs with an error instead of holding them for the
   * minutes TCP takes to give up. TCP keepalive finds connections a failover left dead.
   */
  static async connect(connectionString: string, max = 10, connectTimeoutMs = 10_000): Promise<PgClient> {
    const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: connectTimeoutMs, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    // An idle client losing its server must not crash the process: the next query reconnects.
    pool.on('error', () => {});
    const client = new PgClient(pool);
    await client.query('SELECT 1');
    return client;
  }

  override async transaction<R>(fn: (tx: SqlClient) => Promise<R>, options?: TransactionOptions): Promise<R> {
    const conn = await this.pool.connect();
    let releasedLater = false;
    try {
      // One simple query, one round trip: BEGIN and the local settings together.
      const settings = localSettingsSql(options?.settings ?? {});
      const begin = options?.readOnly ? 'BEGIN READ ONLY' : 'BEGIN';
      await conn.query(settings ? `${begin}; ${settings}` : begin);
      const result = await fn(new PgQueryable(conn));
      if (options?.readOnly) {
        // Nothing to commit: answer now; the connection goes back to the pool once COMMIT is done
        // (and is dropped if it failed), so nobody else queues behind a broken one.
        releasedLater = true;
        conn.query('COMMIT').then(
          () => conn.release(),
          (error: Error) => conn.release(error),
        );
      } else {
        await conn.query('COMMIT');
      }
      return result;
    } catch (error) {
      await conn.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      if (!releasedLater) conn.release();
    }
  }

  override async close(): Promise<void> {
    await this.pool.end();
  }
}
