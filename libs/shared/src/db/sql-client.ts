/** The little of a SQL driver the repositories need; PGlite and `pg` both sit behind it. */
export interface SqlClient {
  query<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /**
   * A pgvector parameter (`$n::vector`) as this driver sends it best. Over the wire, binary: 4 KiB
   * for 1024 floats, copied by the server, against ~20 KiB of decimal text formatted here and
   * parsed there. PGlite in-process takes text only.
   */
  vectorParam(vector: Float32Array): unknown;
  /** Runs a script of several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection; rolls back when it throws. */
  transaction<R>(fn: (tx: SqlClient) => Promise<R>, options?: TransactionOptions): Promise<R>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  /** Settings that hold for this transaction only (SET LOCAL); over the wire they travel with BEGIN. */
  settings?: Readonly<Record<string, string>>;
  /**
   * BEGIN READ ONLY, and over the wire the result is handed back without waiting for COMMIT (a
   * read-only transaction has nothing to commit): one round trip less on every search.
   */
  readOnly?: boolean;
}

const SETTING_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;
const SETTING_VALUE = /^[A-Za-z0-9_.-]*$/;

/**
 * One statement setting every local setting: `SELECT set_config(name, value, true), …`. The
 * settings are ours (config numbers, fixed words), never a client's; they are still checked
 * because they are written into SQL text (it rides in the same simple query as BEGIN).
 */
export function localSettingsSql(settings: Readonly<Record<string, string>>): string | null {
  const entries = Object.entries(settings);
  if (entries.length === 0) return null;
  const calls = entries.map(([name, value]) => {
    if (!SETTING_NAME.test(name)) throw new Error(`Not a setting name: ${JSON.stringify(name)}`);
    if (!SETTING_VALUE.test(value)) throw new Error(`Setting ${name}: value ${JSON.stringify(value)} has characters a setting here never needs`);
    return `set_config('${name}', '${value}', true)`;
  });
  return `SELECT ${calls.join(', ')}`;
}

/** Sets the local settings inside a transaction already open (PGlite's, or an enclosing one). */
export async function applyLocalSettings(db: SqlClient, options: TransactionOptions | undefined): Promise<void> {
  const settings = localSettingsSql(options?.settings ?? {});
  if (settings) await db.query(settings);
}
