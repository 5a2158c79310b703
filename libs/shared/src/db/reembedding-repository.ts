import type { Reembedding, ReembeddingRepository, ReembeddingState } from '../ports.js';
import { isUuid } from './image-repository.js';
import type { SqlClient } from './sql-client.js';

interface ReembeddingRow {
  id: string;
  model: string;
  replaces: string | null;
  collection: string | null;
  state: ReembeddingState;
  total: number | string;
  done: number | string;
  failed: number | string;
  started_at: Date | string;
  finished_at: Date | string | null;
}

// Progress is counted from the items, so a deleted image leaves both the total and the work.
const SELECT_WITH_PROGRESS = `
  SELECT r.id, r.model, r.replaces, r.collection, r.state, r.started_at, r.finished_at,
         count(ri.image_id) AS total,
         count(ri.image_id) FILTER (WHERE ri.state = 'DONE') AS done,
         count(ri.image_id) FILTER (WHERE ri.state = 'FAILED') AS failed
    FROM reembeddings r LEFT JOIN reembedding_items ri ON ri.reembedding_id = r.id`;

function toReembedding(r: ReembeddingRow): Reembedding {
  return {
    id: r.id,
    model: r.model,
    replaces: r.replaces,
    collection: r.collection,
    state: r.state,
    total: Number(r.total),
    done: Number(r.done),
    failed: Number(r.failed),
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at === null ? null : new Date(r.finished_at),
  };
}

export class SqlReembeddingRepository implements ReembeddingRepository {
  constructor(private readonly db: SqlClient) {}

  startForCollection(collection: string, model: string): Promise<Reembedding> {
    return this.db.transaction(async (tx) => {
      const [created] = await tx.query<{ id: string }>('INSERT INTO reembeddings (model, collection) VALUES ($1, $2) RETURNING id', [
        model,
        collection,
      ]);
      // FAILED images get another chance; QUEUED/PROCESSING ones are on their way already.
      await tx.query(
        `INSERT INTO reembedding_items (reembedding_id, image_id)
         SELECT $1, id FROM images WHERE collection = $2 AND status IN ('READY', 'FAILED')`,
        [created.id, collection],
      );
      const [row] = await tx.query<ReembeddingRow>(`${SELECT_WITH_PROGRESS} WHERE r.id = $1 GROUP BY r.id`, [created.id]);
      return toReembedding(row);
    });
  }

  async get(id: string): Promise<Reembedding | null> {
    if (!isUuid(id)) return null;
    const [row] = await this.db.query<ReembeddingRow>(`${SELECT_WITH_PROGRESS} WHERE r.id = $1 GROUP BY r.id`, [id]);
    return row ? toReembedding(row) : null;
  }

  async latest(): Promise<Reembedding | null> {
    const [row] = await this.db.query<ReembeddingRow>(
      `${SELECT_WITH_PROGRESS} GROUP BY r.id ORDER BY (r.state = 'RUNNING') DESC, r.started_at DESC LIMIT 1`,
    );
    return row ? toReembedding(row) : null;
  }

  async running(model: string): Promise<Reembedding[]> {
    const rows = await this.db.query<ReembeddingRow>(
      `${SELECT_WITH_PROGRESS} WHERE r.state = 'RUNNING' AND r.model = $1 GROUP BY r.id ORDER BY r.started_at`,
      [model],
    );
    return rows.map(toReembedding);
  }

  async isRunning(id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    return (await this.db.query("SELECT 1 FROM reembeddings WHERE id = $1 AND state = 'RUNNING'", [id])).length > 0;
  }

  async pendingImageIds(reembeddingId: string, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ image_id: string }>(
      `SELECT ri.image_id FROM reembedding_items ri JOIN images i ON i.id = ri.image_id
        WHERE ri.reembedding_id = $1 AND ri.state = 'PENDING'
        ORDER BY (i.label IS NULL), i.created_at, i.id LIMIT $2`,
      [reembeddingId, limit],
    );
    return rows.map((r) => r.image_id);
  }

  async hasPending(reembeddingId: string): Promise<boolean> {
    const rows = await this.db.query("SELECT 1 FROM reembedding_items WHERE reembedding_id = $1 AND state = 'PENDING' LIMIT 1", [reembeddingId]);
    return rows.length > 0;
  }

  async markItem(reembeddingId: string, imageId: string, state: 'DONE' | 'FAILED', error?: string): Promise<void> {
    await this.db.query(
      "UPDATE reembedding_items SET state = $3, error = $4 WHERE reembedding_id = $1 AND image_id = $2 AND state = 'PENDING'",
      [reembeddingId, imageId, state, error ?? null],
    );
  }

  async imagesMissingVectors(model: string, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT i.id FROM images i
        WHERE i.status = 'READY'
          AND NOT EXISTS (SELECT 1 FROM image_embeddings e WHERE e.image_id = i.id AND e.model = $1)
          AND NOT EXISTS (SELECT 1 FROM reembedding_items ri JOIN reembeddings r ON r.id = ri.reembedding_id
                           WHERE ri.image_id = i.id AND r.state = 'RUNNING' AND ri.state = 'PENDING')
        ORDER BY i.created_at LIMIT $2`,
      [model, limit],
    );
    return rows.map((r) => r.id);
  }

  async claimSweep(name: string, everyMs: number): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO sweep_leases (name, ran_at) VALUES ($1, clock_timestamp())
       ON CONFLICT (name) DO UPDATE SET ran_at = EXCLUDED.ran_at
         WHERE sweep_leases.ran_at < clock_timestamp() - make_interval(secs => $2)
       RETURNING name`,
      [name, everyMs / 1000],
    );
    return rows.length === 1;
  }
}
