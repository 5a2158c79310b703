/**
 * Part (b), the database stage statement by statement: the statements one upload costs (the API's
 * insert, the worker's claim → vector upsert → kNN → result, the API's reads for the event), run
 * through the service's own repositories on PGlite in this process (no wire, so the figures are
 * the database's own CPU), with the model's HNSW index and without it: the difference is what the
 * index insert costs. Vectors: random unit 1024-d, one collection, labelled.
 */
import { SqlClassificationRepository } from '../../libs/shared/src/db/classification-repository.js';
import { SqlImageRepository } from '../../libs/shared/src/db/image-repository.js';
import { migrate } from '../../libs/shared/src/db/migrate.js';
import { PGliteClient } from '../../libs/shared/src/db/pglite-client.js';
import { PgVectorIndex } from '../../libs/shared/src/db/vector-index.js';
import { mulberry32 } from '../../libs/shared/src/prng.js';
import { round } from './stats.js';

export interface StatementCost {
  statement: string;
  by: 'API' | 'worker';
  /** Mean CPU ms per upload, with the HNSW index and without it. */
  withIndexMs: number;
  withoutIndexMs: number;
}

export interface DbStatementsResult {
  method: string;
  /** Uploads already stored before the measured ones, and how many were measured. */
  storedBefore: number;
  measured: number;
  efSearch: number;
  statements: StatementCost[];
  totalWithIndexMs: number;
  totalWithoutIndexMs: number;
}

const DIMENSION = 1024;
const MODEL = 'bench:db-statements-1024';
const STATEMENTS: { statement: string; by: 'API' | 'worker' }[] = [
  { statement: 'insert the image row (uploadImage)', by: 'API' },
  { statement: 'claim: mark PROCESSING, read the row', by: 'worker' },
  { statement: 'upsert the vector (and insert it into the HNSW index)', by: 'worker' },
  { statement: 'kNN: 5 labelled neighbours (read-only search transaction)', by: 'worker' },
  { statement: 'complete: classification + READY, the image row returned for the event', by: 'worker' },
];
// classificationReady reads nothing: the event carries the result and the image row.

async function measure(withIndex: boolean, storedBefore: number, measured: number, efSearch: number): Promise<number[]> {
  const db = await PGliteClient.open();
  try {
    await migrate(db);
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, $2, '{}', 'active')", [MODEL, DIMENSION]);
    const images = new SqlImageRepository(db);
    const classifications = new SqlClassificationRepository(db);
    const vectors = new PgVectorIndex(db, { efSearch });
    await vectors.prepare(MODEL, DIMENSION);
    if (!withIndex) await db.exec(`DROP INDEX ${(await db.query<{ i: string }>("SELECT indexname AS i FROM pg_indexes WHERE indexname LIKE 'image_embeddings_hnsw_%'"))[0].i}`);
    const next = mulberry32(1); // the same vectors either way
    const unitVector = () => {
      const v = new Float32Array(DIMENSION);
      let norm = 0;
      for (let i = 0; i < DIMENSION; i++) norm += (v[i] = next() - 0.5) ** 2;
      for (let i = 0; i < DIMENSION; i++) v[i] /= Math.sqrt(norm);
      return v;
    };
    const cpuMs = new Array<number>(STATEMENTS.length).fill(0);
    const timed = async <T>(i: number, fn: () => Promise<T>): Promise<T> => {
      const before = process.cpuUsage();
      const result = await fn();
      const used = process.cpuUsage(before);
      cpuMs[i] += (used.user + used.system) / 1000;
      return result;
    };
    for (let n = 0; n < storedBefore + measured; n++) {
      if (n === storedBefore) cpuMs.fill(0);
      const image = await timed(0, () =>
        images.create({ collection: 'bench', label: `label-${n % 10}`, width: 224, height: 224, contentType: 'image/jpeg', sha256: `sha-${n}`, objectKey: `k/${n}`, sizeBytes: 1, metadata: null }),
      );
      await timed(1, () => images.claim(image.id));
      const vector = unitVector();
      await timed(2, () => vectors.upsert(image.id, MODEL, vector));
      const neighbors = await timed(3, () => vectors.nearest({ vector, model: MODEL, k: 5, collection: 'bench', excludeImageId: image.id, labelledOnly: true }));
      await timed(4, () => classifications.complete({ imageId: image.id, label: neighbors[0]?.label ?? null, confidence: 1, neighbors, model: MODEL, createdAt: new Date() }, 'READY'));
    }
    return cpuMs.map((x) => x / measured);
  } finally {
    await db.close();
  }
}

export async function runDbStatements(options: { storedBefore: number; measured: number; efSearch: number; log: (m: string) => void }): Promise<DbStatementsResult> {
  const { storedBefore, measured, efSearch, log } = options;
  log(`  database statements per upload: PGlite in this process, ${storedBefore} uploads stored, then ${measured} measured, with and without the HNSW index`);
  const withIndex = await measure(true, storedBefore, measured, efSearch);
  const withoutIndex = await measure(false, storedBefore, measured, efSearch);
  const statements = STATEMENTS.map((s, i) => ({ ...s, withIndexMs: round(withIndex[i], 2), withoutIndexMs: round(withoutIndex[i], 2) }));
  const sum = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0), 2);
  return {
    method: `the service's repositories (SqlImageRepository, PgVectorIndex, SqlClassificationRepository) on PGlite in this process; process CPU time around each call; random unit ${DIMENSION}-d vectors, one collection, 10 labels; mean over the measured uploads`,
    storedBefore,
    measured,
    efSearch,
    statements,
    totalWithIndexMs: sum(withIndex),
    totalWithoutIndexMs: sum(withoutIndex),
  };
}
