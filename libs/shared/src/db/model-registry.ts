import type { ModelInfo } from '../ports.js';
import type { SqlClient } from './sql-client.js';

/** Which model's vectors are live. Workers announce theirs at start-up; the API reads it. */
export class ModelRegistry {
  constructor(private readonly db: SqlClient) {}

  async activate(info: ModelInfo): Promise<void> {
    await this.db.query(
      `INSERT INTO models (id, dimension, info) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET info = EXCLUDED.info, activated_at = clock_timestamp()`,
      [info.id, info.dimension, JSON.stringify(info)],
    );
  }

  async active(): Promise<ModelInfo | null> {
    const [row] = await this.db.query<{ info: ModelInfo }>('SELECT info FROM models ORDER BY activated_at DESC LIMIT 1');
    return row?.info ?? null;
  }
}
