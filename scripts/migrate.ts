// `npm run migrate`: applies the pending SQL migrations once and exits (0 on success). Compose runs it
// as the one-shot `migrate` service and Kubernetes as a Job, before API and worker replicas start, so
// the schema is not changed by many replicas at start-up. migrate() takes a Postgres advisory lock,
// so a second copy running at the same time waits and then finds nothing to do.
import path from 'node:path';
import { loadConfig } from '@lookalike/shared/config';
import { checkPgvector, migrate } from '@lookalike/shared/db/migrate';
import { PgClient } from '@lookalike/shared/db/pg-client';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import type { SqlClient } from '@lookalike/shared/db/sql-client';
import { createLogger } from '@lookalike/shared/logger';

/** A database that is still starting (compose, a fresh pod) gets this long to accept connections. */
const CONNECT_TIMEOUT_MS = 60_000;

const config = loadConfig();
const log = createLogger('migrate', config.LOG_LEVEL);

async function connect(url: string): Promise<SqlClient> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await PgClient.connect(url, 1);
    } catch (error) {
      if (Date.now() - started > CONNECT_TIMEOUT_MS) throw error;
      log.info({ attempt, error: (error as Error).message }, 'database not reachable yet, retrying');
      await new Promise((r) => setTimeout(r, Math.min(attempt * 500, 3000)));
    }
  }
}

try {
  // Unset DATABASE_URL: the embedded PGlite under DATA_DIR (what the processes would open themselves).
  const db = config.DATABASE_URL ? await connect(config.DATABASE_URL) : await PGliteClient.open(path.join(config.dataDir, 'pgdata'));
  try {
    const applied = await migrate(db);
    const pgvector = await checkPgvector(db);
    log.info({ applied, pgvector }, applied.length > 0 ? `applied ${applied.length} migration(s)` : 'schema is up to date');
  } finally {
    await db.close();
  }
} catch (error) {
  log.error({ error: (error as Error).message }, 'migration failed');
  process.exitCode = 1;
}
