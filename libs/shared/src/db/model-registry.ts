import type { ModelInfo, ModelRegistry, ModelRole, ModelState } from '../ports.js';
import type { SqlClient } from './sql-client.js';
import { isUuid } from './image-repository.js';
import { hnswIndexName } from './vector-index.js';

// Serialises model state changes across processes (any constant; the same in every replica).
const MODEL_LOCK_ID = 7_361_205;

/** The model state machine of migration 003, each change in one transaction under an advisory lock. */
export class SqlModelRegistry implements ModelRegistry {
  constructor(private readonly db: SqlClient) {}

  register(info: ModelInfo): Promise<ModelRole> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MODEL_LOCK_ID]);
      const [active] = await tx.query<{ id: string }>("SELECT id FROM models WHERE state = 'active'");
      if (active?.id === info.id) {
        await tx.query('UPDATE models SET info = $2 WHERE id = $1', [info.id, JSON.stringify(info)]);
        return { role: 'active' };
      }
      await tx.query(
        `INSERT INTO models (id, dimension, info, state) VALUES ($1, $2, $3, 'pending')
         ON CONFLICT (id) DO UPDATE SET dimension = EXCLUDED.dimension, info = EXCLUDED.info, state = 'pending', retired_at = NULL`,
        [info.id, info.dimension, JSON.stringify(info)],
      );
      const [live] = active
        ? await tx.query("SELECT 1 FROM image_embeddings e JOIN images i ON i.id = e.image_id WHERE e.model = $1 AND i.status = 'READY' LIMIT 1", [active.id])
        : [];
      if (!active || !live) {
        // Nothing to carry over: switch now (a fresh database, or one whose images never got vectors).
        await tx.query("UPDATE reembeddings SET state = 'SUPERSEDED', finished_at = clock_timestamp() WHERE state = 'RUNNING' AND replaces IS NOT NULL");
        await tx.query("UPDATE models SET state = 'retired', retired_at = clock_timestamp() WHERE state = 'pending' AND id <> $1", [info.id]);
        await this.switchTo(tx, info.id);
        return { role: 'active' };
      }
      const [running] = await tx.query<{ id: string }>(
        "SELECT id FROM reembeddings WHERE state = 'RUNNING' AND model = $1 AND replaces = $2 ORDER BY started_at DESC LIMIT 1",
        [info.id, active.id],
      );
      if (running) return { role: 'pending', reembeddingId: running.id };
      // The newest configuration wins: a switch to yet another model is abandoned.
      await tx.query("UPDATE reembeddings SET state = 'SUPERSEDED', finished_at = clock_timestamp() WHERE state = 'RUNNING' AND replaces IS NOT NULL");
      await tx.query("UPDATE models SET state = 'retired', retired_at = clock_timestamp() WHERE state = 'pending' AND id <> $1", [info.id]);
      const [created] = await tx.query<{ id: string }>('INSERT INTO reembeddings (model, replaces) VALUES ($1, $2) RETURNING id', [
        info.id,
        active.id,
      ]);
      // Every image whose vector is live now; images that arrive later are embedded by the new model anyway.
      await tx.query(
        `INSERT INTO reembedding_items (reembedding_id, image_id)
         SELECT $1, e.image_id FROM image_embeddings e JOIN images i ON i.id = e.image_id WHERE e.model = $2 AND i.status = 'READY'`,
        [created.id, active.id],
      );
      return { role: 'pending', reembeddingId: created.id };
    });
  }

  private async switchTo(tx: SqlClient, model: string): Promise<void> {
    await tx.query("UPDATE models SET state = 'retired', retired_at = clock_timestamp() WHERE state = 'active' AND id <> $1", [model]);
    await tx.query("UPDATE models SET state = 'active', activated_at = clock_timestamp(), retired_at = NULL WHERE id = $1", [model]);
  }

  async active(): Promise<ModelInfo | null> {
    const [row] = await this.db.query<{ info: ModelInfo }>("SELECT info FROM models WHERE state = 'active'");
    return row?.info ?? null;
  }

  async state(modelId: string): Promise<ModelState | null> {
    const [row] = await this.db.query<{ state: ModelState }>('SELECT state FROM models WHERE id = $1', [modelId]);
    return row?.state ?? null;
  }

  complete(reembeddingId: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MODEL_LOCK_ID]);
      const [r] = await tx.query<{ model: string; replaces: string | null; state: string }>(
        'SELECT model, replaces, state FROM reembeddings WHERE id = $1',
        [reembeddingId],
      );
      if (!r || r.state !== 'RUNNING') return false;
      const [pending] = await tx.query("SELECT 1 FROM reembedding_items WHERE reembedding_id = $1 AND state = 'PENDING' LIMIT 1", [reembeddingId]);
      if (pending) return false;
      if (r.replaces !== null) {
        const [model] = await tx.query<{ state: string }>('SELECT state FROM models WHERE id = $1', [r.model]);
        if (model?.state !== 'pending') return false;
        await this.switchTo(tx, r.model);
        // Images the new model could not embed would silently drop out of search: say so on the image.
        await tx.query(
          `UPDATE images i SET status = 'FAILED', error = 'Re-embedding with model ' || $2 || ' failed: ' || coalesce(ri.error, 'unknown error'),
             updated_at = clock_timestamp()
           FROM reembedding_items ri WHERE ri.reembedding_id = $1 AND ri.state = 'FAILED' AND i.id = ri.image_id`,
          [reembeddingId, r.model],
        );
      }
      await tx.query("UPDATE reembeddings SET state = 'COMPLETE', finished_at = clock_timestamp() WHERE id = $1", [reembeddingId]);
      return true;
    });
  }

  async cancel(reembeddingId: string): Promise<boolean> {
    if (!isUuid(reembeddingId)) return false;
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MODEL_LOCK_ID]);
      const [r] = await tx.query<{ model: string; replaces: string | null }>(
        "UPDATE reembeddings SET state = 'CANCELLED', finished_at = clock_timestamp() WHERE id = $1 AND state = 'RUNNING' RETURNING model, replaces",
        [reembeddingId],
      );
      if (!r) return false;
      // A switch called off: the model being filled in retires like any other, vectors and index
      // purged after the grace period; images that only it embedded (uploaded meanwhile) are
      // found by the sweep of the active model's workers, which lacks their vector.
      if (r.replaces !== null) {
        await tx.query("UPDATE models SET state = 'retired', retired_at = clock_timestamp() WHERE id = $1 AND state = 'pending'", [r.model]);
      }
      return true;
    });
  }

  purgeRetired(graceMs: number): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MODEL_LOCK_ID]);
      const rows = await tx.query<{ id: string }>(
        "SELECT id FROM models WHERE state = 'retired' AND retired_at < clock_timestamp() - make_interval(secs => $1)",
        [graceMs / 1000],
      );
      const ids = rows.map((r) => r.id);
      if (ids.length === 0) return ids;
      await tx.query('DELETE FROM image_embeddings WHERE model = ANY($1::text[])', [ids]);
      for (const id of ids) await tx.exec(`DROP INDEX IF EXISTS ${hnswIndexName(id)}`);
      await tx.query('DELETE FROM models WHERE id = ANY($1::text[])', [ids]);
      return ids;
    });
  }
}
