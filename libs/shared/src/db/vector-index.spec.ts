import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { startPgliteWire, stopPgliteWire } from '../../../../test/helpers/pglite-wire.js';
import { freePort } from '../local-redis.js';
import { SqlImageRepository } from './image-repository.js';
import { migrate } from './migrate.js';
import { PgClient } from './pg-client.js';
import { PGliteClient } from './pglite-client.js';
import { prng as rng } from '../../../../test/fixtures/images.js';
import { hnswIndexesBeyondSharedBuffers, hnswIndexName, PgVectorIndex } from './vector-index.js';
import { testNewImage } from '../../../../test/fixtures/new-image.js';

const MODEL = 'test:synthetic-64';
const DIM = 64;

function randomUnitVector(next: () => number): Float32Array {
  const v = new Float32Array(DIM);
  let norm = 0;
  for (let i = 0; i < DIM; i++) {
    v[i] = next() * 2 - 1;
    norm += v[i] * v[i];
  }
  norm = Math.sqrt(norm);
  for (let i = 0; i < DIM; i++) v[i] /= norm;
  return v;
}

function cosineDistance(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return 1 - dot;
}

describe('PgVectorIndex on PGlite + pgvector', () => {
  let db: PGliteClient;
  let index: PgVectorIndex;
  const vectors = new Map<string, { v: Float32Array; collection: string; label: string | null }>();
  const TOTAL = 3000;
  const SMALL = 30; // 1% of all vectors

  before(async () => {
    db = await PGliteClient.open();
    await migrate(db);
    // Stored-vector searches answer only for the active model.
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, $2, '{}', 'active')", [MODEL, DIM]);
    index = new PgVectorIndex(db, { efSearch: 40 });
    await index.prepare(MODEL, DIM);
    const images = new SqlImageRepository(db);
    const next = rng(42);
    for (let i = 0; i < TOTAL; i++) {
      const collection = i < SMALL ? 'rare' : 'common';
      const label = i % 3 === 0 ? null : `label-${i % 7}`;
      const image = await images.create(testNewImage(i, { collection, label }));
      const v = randomUnitVector(next);
      await index.upsert(image.id, MODEL, v);
      vectors.set(image.id, { v, collection, label });
    }
  });

  after(async () => {
    await db.close();
  });

  function exactNearest(q: Float32Array, filter: (e: { collection: string; label: string | null }) => boolean, k: number) {
    return [...vectors.entries()]
      .filter(([, e]) => filter(e))
      .map(([id, e]) => ({ id, d: cosineDistance(q, e.v) }))
      .sort((a, b) => a.d - b.d)
      .slice(0, k);
  }

  async function plan(sql: string, params: unknown[]): Promise<string> {
    const rows = await db.transaction((tx) => tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params), { settings: index.searchSettings });
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }

  test('the query plan scans the HNSW index of the model', async () => {
    const q = randomUnitVector(rng(7));
    const { sql, params } = index.nearestSql({ vector: q, model: MODEL, k: 5, collection: 'common' });
    const text = await plan(sql, params);
    assert.match(text, /Index Scan using image_embeddings_hnsw_/, text);
  });

  test('the stored-vector query scans the HNSW index too, with the probe vector as its parameter', async () => {
    const [id] = vectors.keys();
    const { sql, params } = index.nearestToStoredSql({ imageId: id, model: MODEL, k: 5 });
    const text = await plan(sql, params);
    assert.match(text, /Index Scan using image_embeddings_hnsw_/, text);
    assert.doesNotMatch(text, /Seq Scan on image_embeddings/, text);
  });

  // Another process (an API replica) that never prepared the model: a worker whose model became
  // active, or is pending, since the API read the active one embedded the query.
  test('a process that did not prepare the model searches it by the vector given, on its HNSW index', async () => {
    const other = new PgVectorIndex(db, { efSearch: 40 });
    const q = randomUnitVector(rng(9));
    const { sql, params } = other.nearestSql({ vector: q, model: MODEL, k: 5 });
    assert.match(await plan(sql, params), /Index Scan using image_embeddings_hnsw_/);
    assert.deepEqual(await other.nearest({ vector: q, model: MODEL, k: 5 }), await index.nearest({ vector: q, model: MODEL, k: 5 }));
    assert.throws(() => index.nearestSql({ vector: new Float32Array(DIM + 1), model: MODEL, k: 5 }), /makes 64-d vectors, got 65/);
  });

  test('prepare: an index left invalid by an interrupted concurrent build is built again', async () => {
    const name = hnswIndexName(MODEL);
    const valid = async () => (await db.query<{ v: boolean }>('SELECT i.indisvalid AS v FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1', [name]))[0]?.v;
    assert.equal(await valid(), true);
    await db.query('UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass', [name]);
    await new PgVectorIndex(db, { efSearch: 40 }).prepare(MODEL, DIM);
    assert.equal(await valid(), true);
    const { sql, params } = index.nearestSql({ vector: randomUnitVector(rng(10)), model: MODEL, k: 5 });
    assert.match(await plan(sql, params), /Index Scan using image_embeddings_hnsw_/);
  });

  test('search settings hold inside the search transaction only', async () => {
    const inside = await db.transaction(
      (tx) =>
        tx.query<{ ef: string; scan: string; seq: string }>(
          "SELECT current_setting('hnsw.ef_search') AS ef, current_setting('hnsw.iterative_scan') AS scan, current_setting('enable_seqscan') AS seq",
        ),
      { settings: index.searchSettings },
    );
    assert.deepEqual(inside[0], { ef: '40', scan: 'relaxed_order', seq: 'off' });
    const outside = await db.query<{ scan: string }>("SELECT current_setting('hnsw.iterative_scan') AS scan");
    assert.equal(outside[0].scan, 'off');
  });

  test('returns the k nearest of a collection, nearest first, with cosine distances', async () => {
    const q = randomUnitVector(rng(8));
    const hits = await index.nearest({ vector: q, model: MODEL, k: 5, collection: 'common' });
    const exact = exactNearest(q, (e) => e.collection === 'common', 5);
    assert.equal(hits.length, 5);
    const found = new Set(hits.map((h) => h.imageId));
    const recall = exact.filter((e) => found.has(e.id)).length / 5;
    assert.ok(recall >= 0.8, `recall@5 ${recall}`);
    for (let i = 1; i < hits.length; i++) assert.ok(hits[i - 1].distance <= hits[i].distance);
    const top = vectors.get(hits[0].imageId)!;
    assert.ok(Math.abs(hits[0].distance - cosineDistance(q, top.v)) < 1e-5);
  });

  test('a collection holding 1% of the vectors still gets its k nearest (iterative scan)', async () => {
    for (let seed = 100; seed < 105; seed++) {
      const q = randomUnitVector(rng(seed));
      const hits = await index.nearest({ vector: q, model: MODEL, k: 10, collection: 'rare' });
      const exact = exactNearest(q, (e) => e.collection === 'rare', 10);
      assert.equal(hits.length, 10, `seed ${seed}: got ${hits.length} of 10`);
      assert.ok(hits.every((h) => vectors.get(h.imageId)!.collection === 'rare'));
      const found = new Set(hits.map((h) => h.imageId));
      assert.ok(exact.filter((e) => found.has(e.id)).length >= 9, `seed ${seed}: recall too low`);
    }
  });

  test('labelledOnly and excludeImageId filter the neighbours', async () => {
    const [someId, entry] = [...vectors.entries()].find(([, e]) => e.collection === 'rare' && e.label !== null)!;
    const hits = await index.nearest({
      vector: entry.v,
      model: MODEL,
      k: 5,
      collection: 'rare',
      excludeImageId: someId,
      labelledOnly: true,
    });
    assert.equal(hits.length, 5);
    assert.ok(hits.every((h) => h.imageId !== someId && h.label !== null));
  });

  test('vectors of another model are never returned', async () => {
    const other = 'test:other-64';
    await index.prepare(other, DIM);
    const q = randomUnitVector(rng(9));
    assert.deepEqual(await index.nearest({ vector: q, model: other, k: 5 }), []);
  });

  test('nearestToStored answers like nearest with the stored vector, in its own collection, leaving the image out', async () => {
    for (const [id, e] of [...vectors.entries()].filter(([, e]) => e.collection === 'rare').slice(0, 5)) {
      const stored = await index.nearestToStored({ imageId: id, model: MODEL, k: 5 });
      const direct = await index.nearest({ vector: e.v, model: MODEL, k: 5, collection: 'rare', excludeImageId: id });
      assert.deepEqual(stored?.map((h) => h.imageId), direct.map((h) => h.imageId));
      assert.ok(stored!.every((h) => h.imageId !== id && vectors.get(h.imageId)!.collection === 'rare'));
    }
    const [id] = [...vectors.entries()].find(([, e]) => e.collection === 'rare')!;
    const elsewhere = await index.nearestToStored({ imageId: id, model: MODEL, k: 3, collection: 'common' });
    assert.ok(elsewhere!.length === 3 && elsewhere!.every((h) => vectors.get(h.imageId)!.collection === 'common'), 'an explicit collection wins');
  });

  test('nearestToStored: null without a vector, for a non-active model or a bad id; [] with no neighbours', async () => {
    const [id] = vectors.keys();
    assert.equal(await index.nearestToStored({ imageId: '00000000-0000-4000-8000-000000000000', model: MODEL, k: 5 }), null);
    assert.equal(await index.nearestToStored({ imageId: 'not-a-uuid', model: MODEL, k: 5 }), null);
    const other = 'test:inactive-64';
    await index.prepare(other, DIM);
    await index.upsert(id, other, randomUnitVector(rng(11)));
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, $2, '{}', 'pending')", [other, DIM]);
    assert.equal(await index.nearestToStored({ imageId: id, model: other, k: 5 }), null, 'a model that is not active answers nothing');
    await db.query("UPDATE models SET state = 'retired' WHERE id = $1", [MODEL]);
    await db.query("UPDATE models SET state = 'active' WHERE id = $1", [other]);
    try {
      assert.deepEqual(await index.nearestToStored({ imageId: id, model: other, k: 5 }), [], 'the only vector of its model: no neighbours');
      assert.equal(await index.nearestToStored({ imageId: id, model: MODEL, k: 5 }), null, 'the retired model answers nothing');
    } finally {
      await db.query("UPDATE models SET state = 'retired' WHERE id = $1", [other]);
      await db.query("UPDATE models SET state = 'active' WHERE id = $1", [MODEL]);
      await db.query('DELETE FROM image_embeddings WHERE model = $1', [other]);
    }
  });

  test('get returns the stored vector', async () => {
    const [id, e] = vectors.entries().next().value!;
    const v = await index.get(id, MODEL);
    assert.ok(v);
    assert.ok(cosineDistance(v, e.v) < 1e-6);
    assert.equal(await index.get(id, 'test:other-64'), null);
  });
});

test("HNSW indexes larger than shared_buffers are reported with both sizes; indexes that fit are not", async () => {
  const db = await PGliteClient.open(undefined, { sharedBuffers: '1MB' });
  try {
    await migrate(db);
    const model = 'test:cache-1024';
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, 1024, '{}', 'active')", [model]);
    const index = new PgVectorIndex(db, { efSearch: 40 });
    await index.prepare(model, 1024);
    assert.equal(await hnswIndexesBeyondSharedBuffers(db), null, 'an empty index fits');
    const images = new SqlImageRepository(db);
    const next = rng(7);
    // A 1024-d element takes about half an 8 KiB page: 300 of them, about 1.2 MiB, against 1 MiB.
    for (let i = 0; i < 300; i++) {
      const image = await images.create(testNewImage(i));
      await index.upsert(image.id, model, Float32Array.from({ length: 1024 }, () => next() - 0.5));
    }
    const beyond = await hnswIndexesBeyondSharedBuffers(db);
    assert.ok(beyond, 'the index outgrew 1 MiB of buffers');
    assert.equal(beyond.sharedBuffersMiB, 1);
    const [{ bytes }] = await db.query<{ bytes: string }>(`SELECT pg_relation_size('${hnswIndexName(model)}') AS bytes`);
    assert.equal(beyond.indexesMiB, Math.round((Number(bytes) / 2 ** 20) * 10) / 10);
  } finally {
    await db.close();
  }
});

test('over the wire (pg, binary vector parameters) a vector is stored exactly as sent, and a search finds what it finds in-process', async () => {
  const pglite = await PGlite.create({ extensions: { vector } });
  const port = await freePort();
  const wire = await startPgliteWire(pglite, port);
  const db = await PgClient.connect(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, 2);
  try {
    await migrate(db);
    await db.query("INSERT INTO models (id, dimension, info, state) VALUES ($1, $2, '{}', 'active')", [MODEL, DIM]);
    const index = new PgVectorIndex(db, { efSearch: 40 });
    await index.prepare(MODEL, DIM);
    const images = new SqlImageRepository(db);
    const next = rng(9);
    const add = async (collection: string, v: Float32Array) => {
      const n = stored.length;
      const image = await images.create(testNewImage(n, { collection, label: 'l' }));
      await index.upsert(image.id, MODEL, v);
      stored.push({ id: image.id, v, collection });
    };
    const stored: { id: string; v: Float32Array; collection: string }[] = [];
    // Values text would spell differently: float32 extremes, a subnormal, negative zero, a third.
    const edge = randomUnitVector(next);
    edge.set([3.4028234663852886e38, -1.1754943508222875e-38, 1.401298464324817e-45, -0, 1 / 3], 0);
    await add('edge', edge);
    for (let i = 0; i < 50; i++) await add('c', randomUnitVector(next));
    for (const { id, v } of stored.slice(0, 5)) assert.deepEqual(await index.get(id, MODEL), v);
    const probe = stored[7];
    const hits = await index.nearest({ vector: probe.v, model: MODEL, k: 5, collection: 'c', excludeImageId: probe.id });
    const exact = stored
      .filter((e) => e.collection === 'c' && e !== probe)
      .map((e) => ({ id: e.id, d: cosineDistance(probe.v, e.v) }))
      .sort((a, b) => a.d - b.d)
      .slice(0, 5);
    assert.deepEqual(hits.map((h) => h.imageId), exact.map((e) => e.id));
    hits.forEach((h, i) => assert.ok(Math.abs(h.distance - exact[i].d) < 1e-5));
    // A vector of another size is refused by the database, binary or not.
    await assert.rejects(index.nearest({ vector: new Float32Array(DIM + 1), model: MODEL, k: 5 }), /makes 64-d vectors/);
    await assert.rejects(db.query(`SELECT $1::vector(${DIM})`, [db.vectorParam(new Float32Array(DIM + 1))]), /expected 64 dimensions, not 65/);
  } finally {
    await db.close();
    await stopPgliteWire(wire);
    await pglite.close();
  }
});
