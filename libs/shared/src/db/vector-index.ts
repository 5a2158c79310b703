import { createHash } from 'node:crypto';
import pgvector from 'pgvector';
import type { NeighborHit } from '../domain/image.js';
import type { MetadataFilter, NearestQuery, StoredNearestQuery, VectorIndex } from '../ports.js';
import { isUuid } from './image-repository.js';
import type { SqlClient } from './sql-client.js';

export interface HnswOptions {
  /** Candidates kept per scan step: recall against latency. pgvector's default is 40. */
  efSearch: number;
  m?: number;
  efConstruction?: number;
}

/** Model ids are ours, not a client's; still, they end up in DDL, so quote them as SQL literals. */
function sqlLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

export function hnswIndexName(model: string): string {
  return `image_embeddings_hnsw_${createHash('sha256').update(model).digest('hex').slice(0, 16)}`;
}

/**
 * pgvector storage and search. Each model has a partial HNSW index over `embedding::vector(D)`
 * (cosine); queries repeat that expression and the model literal so the planner can use it.
 * Collections share an index and pgvector filters after the scan, so filtered queries turn on
 * iterative index scans (pgvector 0.8) and re-sort the rows they get (relaxed order).
 */
export class PgVectorIndex implements VectorIndex {
  private readonly dimensions = new Map<string, number>();

  constructor(
    private readonly db: SqlClient,
    private readonly options: HnswOptions,
  ) {}

  /**
   * Creates the model's index once; every process calls this at start-up for the model it uses.
   * An index already built costs one catalog read and no lock. A new model's index (a model
   * switch, on a table that may hold millions of vectors) is built CONCURRENTLY, so the active
   * model's uploads go on writing meanwhile; a concurrent build that was interrupted leaves an
   * invalid index, which is dropped and built again unless a build is still under way.
   */
  async prepare(model: string, dimension: number): Promise<void> {
    if (!Number.isInteger(dimension) || dimension < 1 || dimension > 2000) {
      throw new Error(`HNSW indexes vectors of 1 to 2000 dimensions, not ${dimension}`);
    }
    const name = hnswIndexName(model);
    const [existing] = await this.db.query<{ valid: boolean; building: boolean }>(
      `SELECT i.indisvalid AS valid,
              EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid) AS building
         FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1`,
      [name],
    );
    if (!existing?.valid) {
      if (existing && !existing.building) await this.db.exec(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
      const m = this.options.m ?? 16;
      const efc = this.options.efConstruction ?? 64;
      await this.db.exec(
        `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON image_embeddings
           USING hnsw ((embedding::vector(${dimension})) vector_cosine_ops) WITH (m = ${m}, ef_construction = ${efc})
           WHERE model = ${sqlLiteral(model)}`,
      );
    }
    this.dimensions.set(model, dimension);
  }

  private dimensionOf(model: string): number {
    const d = this.dimensions.get(model);
    if (d === undefined) throw new Error(`Vector index not prepared for model ${model}`);
    return d;
  }

  async upsert(imageId: string, model: string, vector: Float32Array): Promise<void> {
    const d = this.dimensionOf(model);
    if (vector.length !== d) throw new Error(`Model ${model} makes ${d}-d vectors, got ${vector.length}`);
    await this.db.query(
      `INSERT INTO image_embeddings (image_id, model, collection, label, metadata, embedding)
       SELECT id, $2, collection, label, metadata, $3::vector FROM images WHERE id = $1
       ON CONFLICT (image_id, model) DO UPDATE SET embedding = EXCLUDED.embedding, label = EXCLUDED.label,
         metadata = EXCLUDED.metadata, created_at = clock_timestamp()`,
      [imageId, model, this.db.vectorParam(vector)],
    );
  }

  async get(imageId: string, model: string): Promise<Float32Array | null> {
    const [row] = await this.db.query<{ embedding: string }>(
      'SELECT embedding::text AS embedding FROM image_embeddings WHERE image_id = $1 AND model = $2',
      [imageId, model],
    );
    return row ? Float32Array.from(pgvector.fromSql(row.embedding) as number[]) : null;
  }

  /**
   * The SQL of a nearest-neighbour query; exported for the plan test. A model this process has not
   * prepared (a query embedded by a worker whose model became active, or is pending, since this
   * API process read the active one) is searched at its vector's dimension: the worker that made
   * the vector prepared that model's index.
   */
  nearestSql(query: NearestQuery): { sql: string; params: unknown[] } {
    const d = this.dimensions.get(query.model) ?? query.vector.length;
    if (query.vector.length !== d) throw new Error(`Model ${query.model} makes ${d}-d vectors, got ${query.vector.length}`);
    const params: unknown[] = [this.db.vectorParam(query.vector), query.k];
    const filters = this.filters(query, params);
    if (query.collection !== undefined) {
      params.push(query.collection);
      filters.push(`collection = $${params.length}`);
    }
    if (query.excludeImageId !== undefined) {
      params.push(query.excludeImageId);
      filters.push(`image_id <> $${params.length}`);
    }
    if (query.labelledOnly) filters.push('label IS NOT NULL');
    return { sql: this.hitsSql(d, filters, `$1::vector(${d})`, ''), params };
  }

  /**
   * The stored-vector search as one statement, so `similarImages(imageId)` needs no other read:
   * the probe row (the image's vector, its collection, and a check that the model is still the
   * active one) feeds the index scan as an InitPlan parameter, which pgvector's HNSW scan accepts.
   * No probe row: no result row. A probe with no neighbours: one row of nulls.
   */
  nearestToStoredSql(query: StoredNearestQuery): { sql: string; params: unknown[] } {
    const d = this.dimensionOf(query.model);
    const params: unknown[] = [query.imageId, query.k];
    const filters = this.filters(query, params);
    params.push(query.collection ?? null);
    filters.push(`collection = COALESCE($${params.length}, (SELECT collection FROM probe))`, 'image_id <> $1');
    const probe = `probe AS MATERIALIZED (
        SELECT e.embedding::vector(${d}) AS embedding, e.collection FROM image_embeddings e
        JOIN models m ON m.id = e.model AND m.state = 'active'
        WHERE e.image_id = $1 AND e.model = ${sqlLiteral(query.model)}
      ), `;
    return { sql: this.hitsSql(d, filters, '(SELECT embedding FROM probe)', probe), params };
  }

  private filters(query: { model: string; where?: MetadataFilter }, params: unknown[]): string[] {
    const filters = [`model = ${sqlLiteral(query.model)}`];
    if (query.where !== undefined && Object.keys(query.where).length > 0) {
      params.push(JSON.stringify(query.where));
      filters.push(`metadata @> $${params.length}::jsonb`);
    }
    return filters;
  }

  /**
   * k nearest to `target` ($2 is k), re-sorted: the relaxed-order iterative scan may return them out
   * of order. `probe`: the probe CTE of a stored-vector search, or ''.
   */
  private hitsSql(d: number, filters: string[], target: string, probe: string): string {
    const distance = `embedding::vector(${d}) <=> ${target}`;
    const hits = `hits AS MATERIALIZED (
        SELECT image_id, label, ${distance} AS distance FROM image_embeddings
        WHERE ${filters.join(' AND ')}
        ORDER BY ${distance} LIMIT $2
      )`;
    return probe
      ? `WITH ${probe}${hits} SELECT h.image_id, h.label, h.distance FROM probe LEFT JOIN hits h ON true ORDER BY h.distance, h.image_id`
      : `WITH ${hits} SELECT image_id, label, distance FROM hits ORDER BY distance, image_id`;
  }

  async nearest(query: NearestQuery): Promise<NeighborHit[]> {
    const { sql, params } = this.nearestSql(query);
    return toHits(await this.search(sql, params));
  }

  async nearestToStored(query: StoredNearestQuery): Promise<NeighborHit[] | null> {
    if (!isUuid(query.imageId)) return null;
    const { sql, params } = this.nearestToStoredSql(query);
    const rows = await this.search(sql, params);
    if (rows.length === 0) return null;
    return toHits(rows.filter((r) => r.image_id !== null));
  }

  private search(sql: string, params: unknown[]): Promise<HitRow[]> {
    return this.db.transaction((tx) => tx.query<HitRow>(sql, params), { settings: this.searchSettings, readOnly: true });
  }

  /**
   * Local to each search transaction, so pooled connections stay clean; sent with its BEGIN.
   * enable_seqscan off: at 100k vectors with ef_search 100 the planner priced the HNSW scan above a
   * sequential scan and chose the scan (760 ms instead of 5 ms; bench:load); the index is always
   * the plan meant here.
   */
  get searchSettings(): Record<string, string> {
    return {
      'hnsw.ef_search': String(Math.trunc(this.options.efSearch)),
      'hnsw.iterative_scan': 'relaxed_order',
      enable_seqscan: 'off',
    };
  }
}

interface HitRow {
  image_id: string | null;
  label: string | null;
  distance: number | null;
}

function toHits(rows: HitRow[]): NeighborHit[] {
  return rows.map((r) => ({ imageId: r.image_id!, label: r.label, distance: Number(r.distance) }));
}

/** The HNSW indexes' size, all models together, and shared_buffers, in bytes. */
export async function hnswIndexAndBufferBytes(db: SqlClient): Promise<{ indexBytes: number; sharedBuffersBytes: number }> {
  const [row] = await db.query<{ indexes: string; buffers: string }>(
    `SELECT COALESCE(SUM(pg_relation_size(c.oid)), 0) AS indexes,
            (SELECT setting::bigint * current_setting('block_size')::bigint FROM pg_settings WHERE name = 'shared_buffers') AS buffers
       FROM pg_class c JOIN pg_am am ON am.oid = c.relam
      WHERE am.amname = 'hnsw' AND c.relkind = 'i'`,
  );
  return { indexBytes: Number(row.indexes), sharedBuffersBytes: Number(row.buffers) };
}

/**
 * The HNSW indexes' size against shared_buffers, both in MiB, when the indexes do not fit. For the
 * embedded PGlite, which reads a page missing from its buffer cache through JavaScript: a search
 * then costs about twice what it does with the index held (bench:load, 100k vectors).
 */
export async function hnswIndexesBeyondSharedBuffers(db: SqlClient): Promise<{ indexesMiB: number; sharedBuffersMiB: number } | null> {
  const { indexBytes, sharedBuffersBytes } = await hnswIndexAndBufferBytes(db);
  return indexBytes > sharedBuffersBytes ? { indexesMiB: toMiB(indexBytes), sharedBuffersMiB: toMiB(sharedBuffersBytes) } : null;
}

/** Bytes as MiB to one decimal, as the start-up messages give sizes. */
export function toMiB(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}
