import type { ClassificationRecord, ImageRecord, NeighborHit } from '../domain/image.js';
import type { ClassificationRepository, SavedSinceQuery } from '../ports.js';
import { type ImageRow, isImageId, toImageRecord } from './image-repository.js';
import type { SqlClient } from './sql-client.js';

interface ClassificationRow {
  image_id: string;
  label: string | null;
  confidence: number;
  neighbors: NeighborHit[];
  model: string;
  created_at: Date | string;
}

export class SqlClassificationRepository implements ClassificationRepository {
  constructor(private readonly db: SqlClient) {}

  /** The classification's foreign key refuses an image that is gone, so the UPDATE always finds its row. */
  async complete(c: ClassificationRecord, status: 'READY' | 'FAILED', error: string | null = null): Promise<ImageRecord> {
    const [row] = await this.db.query<ImageRow>(
      `WITH saved AS (
         INSERT INTO classifications (image_id, label, confidence, neighbors, model, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (image_id) DO UPDATE SET label = EXCLUDED.label, confidence = EXCLUDED.confidence,
           neighbors = EXCLUDED.neighbors, model = EXCLUDED.model, created_at = EXCLUDED.created_at
         RETURNING image_id
       )
       UPDATE images SET status = $7, error = $8, updated_at = clock_timestamp() FROM saved WHERE images.id = saved.image_id
       RETURNING images.*`,
      [c.imageId, c.label, c.confidence, JSON.stringify(c.neighbors), c.model, c.createdAt, status, error],
    );
    return toImageRecord(row);
  }

  async findByImageId(imageId: string): Promise<ClassificationRecord | null> {
    if (!isImageId(imageId)) return null;
    const [row] = await this.db.query<ClassificationRow>('SELECT * FROM classifications WHERE image_id = $1', [imageId]);
    return row ? toClassificationRecord(row) : null;
  }

  async savedSince(query: SavedSinceQuery): Promise<Array<{ classification: ClassificationRecord; image: ImageRecord }>> {
    // The image's columns as they are, the result's prefixed (both have label and created_at).
    const rows = await this.db.query<ImageRow & { c_label: string | null; c_confidence: number; c_neighbors: NeighborHit[]; c_model: string; c_created_at: Date | string }>(
      `SELECT i.*, c.label AS c_label, c.confidence AS c_confidence, c.neighbors AS c_neighbors, c.model AS c_model, c.created_at AS c_created_at
         FROM classifications c JOIN images i ON i.id = c.image_id
        WHERE c.created_at >= $1 AND ($2::text IS NULL OR i.collection = $2)
          AND ($3::timestamptz IS NULL OR (c.created_at, c.image_id) > ($3::timestamptz, $4::uuid))
        ORDER BY c.created_at, c.image_id
        LIMIT $5`,
      [query.since, query.collection ?? null, query.after?.createdAt ?? null, query.after?.imageId ?? null, query.limit],
    );
    return rows.map((row) => ({
      classification: toClassificationRecord({
        image_id: row.id,
        label: row.c_label,
        confidence: row.c_confidence,
        neighbors: row.c_neighbors,
        model: row.c_model,
        created_at: row.c_created_at,
      }),
      image: toImageRecord(row),
    }));
  }
}

function toClassificationRecord(row: ClassificationRow): ClassificationRecord {
  return {
    imageId: row.image_id,
    label: row.label,
    confidence: Number(row.confidence),
    neighbors: row.neighbors,
    model: row.model,
    createdAt: new Date(row.created_at),
  };
}
