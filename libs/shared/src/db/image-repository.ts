import type { ImageRecord, ImageStatus, NewImage } from '../domain/image.js';
import type { ImageListFilter, ImagePage, ImageRepository, ObjectKeyReferences } from '../ports.js';
import type { SqlClient } from './sql-client.js';

export interface ImageRow {
  id: string;
  collection: string;
  label: string | null;
  status: ImageStatus;
  error: string | null;
  width: number | null;
  height: number | null;
  content_type: string | null;
  sha256: string;
  object_key: string;
  size_bytes: string | number;
  metadata: Record<string, unknown> | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids come from clients: anything that is not a UUID cannot name a row (and must not reach SQL as uuid). */
export function isUuid(id: string): boolean {
  return UUID.test(id);
}

export const isImageId = isUuid;

export function toImageRecord(row: ImageRow): ImageRecord {
  return {
    id: row.id,
    collection: row.collection,
    label: row.label,
    status: row.status,
    error: row.error,
    width: row.width,
    height: row.height,
    contentType: row.content_type,
    sha256: row.sha256,
    objectKey: row.object_key,
    sizeBytes: Number(row.size_bytes),
    metadata: row.metadata,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/**
 * Object-key locks use the two-number form of the advisory locks, whose keys never meet the
 * one-number locks of migrations and the model registry; two keys hashing alike only wait for
 * each other.
 */
const OBJECT_KEY_LOCK_CLASS = 0x6f626a; // 'obj'

export class SqlImageRepository implements ImageRepository {
  constructor(private readonly db: SqlClient) {}

  async create(image: NewImage): Promise<ImageRecord> {
    // Under the object key's lock (see withObjectKeyLock), in the same statement: a delete that
    // takes the lock after this row is in counts it, and one that took it before is over.
    const [row] = await this.db.query<ImageRow>(
      `WITH key_lock AS (SELECT pg_advisory_xact_lock(${OBJECT_KEY_LOCK_CLASS}, hashtext($7)))
       INSERT INTO images (collection, label, width, height, content_type, sha256, object_key, size_bytes, metadata)
       SELECT $1::text, $2::text, $3::integer, $4::integer, $5::text, $6::text, $7::text, $8::bigint, $9::jsonb FROM key_lock
       RETURNING *`,
      [
        image.collection,
        image.label,
        image.width,
        image.height,
        image.contentType,
        image.sha256,
        image.objectKey,
        image.sizeBytes,
        image.metadata === null ? null : JSON.stringify(image.metadata),
      ],
    );
    return toImageRecord(row);
  }

  async findById(id: string): Promise<ImageRecord | null> {
    if (!isImageId(id)) return null;
    const [row] = await this.db.query<ImageRow>('SELECT * FROM images WHERE id = $1', [id]);
    return row ? toImageRecord(row) : null;
  }

  async findByIds(ids: readonly string[]): Promise<ImageRecord[]> {
    const valid = ids.filter(isImageId);
    if (valid.length === 0) return [];
    const rows = await this.db.query<ImageRow>('SELECT * FROM images WHERE id = ANY($1::uuid[])', [valid]);
    return rows.map(toImageRecord);
  }

  async list(filter: ImageListFilter, first: number, after?: string): Promise<ImagePage> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.collection !== undefined) {
      params.push(filter.collection);
      where.push(`collection = $${params.length}`);
    }
    if (filter.label !== undefined) {
      params.push(filter.label);
      where.push(`label = $${params.length}`);
    }
    if (filter.sha256 !== undefined) {
      params.push(filter.sha256.toLowerCase());
      where.push(`sha256 = $${params.length}`);
    }
    const countRows = await this.db.query<{ n: string | number }>(
      `SELECT count(*) AS n FROM images${where.length ? ` WHERE ${where.join(' AND ')}` : ''}`,
      params,
    );
    if (after !== undefined) {
      if (!isImageId(after)) return { images: [], hasNextPage: false, totalCount: Number(countRows[0].n) };
      params.push(after);
      // Keyset: strictly after the cursor row in (created_at, id) descending order.
      where.push(`(created_at, id) < (SELECT created_at, id FROM images WHERE id = $${params.length})`);
    }
    params.push(first + 1);
    const rows = await this.db.query<ImageRow>(
      `SELECT * FROM images${where.length ? ` WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    return {
      images: rows.slice(0, first).map(toImageRecord),
      hasNextPage: rows.length > first,
      totalCount: Number(countRows[0].n),
    };
  }

  async setStatus(id: string, status: ImageStatus, error: string | null = null): Promise<void> {
    await this.db.query('UPDATE images SET status = $2, error = $3, updated_at = clock_timestamp() WHERE id = $1', [
      id,
      status,
      error,
    ]);
  }

  async claim(id: string): Promise<ImageRecord | null> {
    if (!isImageId(id)) return null;
    const [row] = await this.db.query<ImageRow>(
      "UPDATE images SET status = 'PROCESSING', error = NULL, updated_at = clock_timestamp() WHERE id = $1 RETURNING *",
      [id],
    );
    return row ? toImageRecord(row) : null;
  }

  async findStale(olderThanMs: number, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT id FROM images WHERE status IN ('QUEUED', 'PROCESSING')
         AND updated_at < clock_timestamp() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2`,
      [olderThanMs / 1000, limit],
    );
    return rows.map((r) => r.id);
  }

  async setLabel(id: string, label: string | null): Promise<ImageRecord | null> {
    if (!isImageId(id)) return null;
    return this.db.transaction(async (tx) => {
      const [row] = await tx.query<ImageRow>('UPDATE images SET label = $2, updated_at = clock_timestamp() WHERE id = $1 RETURNING *', [id, label]);
      // The copies beside the vectors are what the next kNN vote reads.
      if (row) await tx.query('UPDATE image_embeddings SET label = $2 WHERE image_id = $1', [id, label]);
      return row ? toImageRecord(row) : null;
    });
  }

  async delete(id: string): Promise<void> {
    if (!isImageId(id)) return;
    await this.db.query('DELETE FROM images WHERE id = $1', [id]);
  }

  withObjectKeyLock<R>(objectKey: string, fn: (locked: ObjectKeyReferences) => Promise<R>): Promise<R> {
    return this.db.transaction(async (tx) => {
      // A transaction lock: released by COMMIT or ROLLBACK, never left behind by a dead process.
      await tx.query(`SELECT pg_advisory_xact_lock(${OBJECT_KEY_LOCK_CLASS}, hashtext($1))`, [objectKey]);
      return fn(new SqlImageRepository(tx));
    });
  }

  async countByObjectKey(objectKey: string): Promise<number> {
    const [row] = await this.db.query<{ n: string | number }>('SELECT count(*) AS n FROM images WHERE object_key = $1', [
      objectKey,
    ]);
    return Number(row.n);
  }
}
