import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SqlClient } from './sql-client.js';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'migrations');
// Any constant works; it only has to be the same in every replica.
const MIGRATION_LOCK_ID = 7_361_204;

/**
 * Runs the SQL files in migrations/ that have not run yet, each once, in name order. An advisory
 * lock makes replicas that start together wait for one another instead of racing.
 */
export async function migrate(db: SqlClient): Promise<string[]> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await tx.query<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name));
    const applied: string[] = [];
    for (const file of files) {
      if (done.has(file)) continue;
      const sql = await fs.readFile(path.join(MIGRATIONS_DIR, file), 'utf8');
      await tx.exec(sql);
      await tx.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
      applied.push(file);
    }
    return applied;
  });
}

/**
 * For replicas that must not migrate (MIGRATE_ON_START=false: a one-shot job does it): waits until
 * every migration file has run, so a replica never starts on an old schema.
 */
export async function waitForMigrations(db: SqlClient, timeoutMs = 60_000): Promise<void> {
  const files = (await fs.readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql'));
  const started = Date.now();
  for (;;) {
    const done = await db
      .query<{ name: string }>('SELECT name FROM schema_migrations')
      .then((rows) => new Set(rows.map((r) => r.name)))
      .catch(() => new Set<string>()); // the table itself may not exist yet
    const missing = files.filter((f) => !done.has(f));
    if (missing.length === 0) return;
    if (Date.now() - started > timeoutMs) {
      throw new Error(`The database schema lacks migrations ${missing.join(', ')}: run \`npm run migrate\` (or start with MIGRATE_ON_START=true).`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** pgvector 0.8 brought iterative index scans, which filtered search relies on. */
export async function checkPgvector(db: SqlClient): Promise<string> {
  const rows = await db.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
  const version = rows[0]?.extversion;
  if (!version) throw new Error('The pgvector extension is not installed in this database (CREATE EXTENSION vector).');
  const [major, minor] = version.split('.').map(Number);
  if (major === 0 && minor < 8) {
    throw new Error(`pgvector ${version} is too old: 0.8 or newer is needed for filtered HNSW search (iterative scans).`);
  }
  return version;
}
