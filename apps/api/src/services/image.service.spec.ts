/**
 * Originals are content-addressed: identical uploads share one object, and the last row's delete
 * removes it. These cases force the interleavings of a delete and an identical upload (and of a
 * failed upload's undo) against a real database and a real store on disk: in-process PGlite, PGlite
 * over the wire through `pg`, and a real PostgreSQL when LOOKALIKE_TEST_POSTGRES_URL names one
 * (with pgvector; there the advisory lock, not PGlite's one session, is what keeps them apart).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { LocalObjectStore } from '@lookalike/shared/adapters/local-object-store';
import { SharpImageCodec } from '@lookalike/shared/adapters/sharp-image-codec';
import { SqlImageRepository } from '@lookalike/shared/db/image-repository';
import { migrate } from '@lookalike/shared/db/migrate';
import { PgClient } from '@lookalike/shared/db/pg-client';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import type { SqlClient } from '@lookalike/shared/db/sql-client';
import type { EmbedImagePayload, ImageRepository, JobQueue, ObjectStore } from '@lookalike/shared/ports';
import { startPgliteWire, stopPgliteWire } from '../../../../test/helpers/pglite-wire.js';
import { ImageService } from './image.service.js';
import { objectKeyFor, UploadImageService } from './upload-image.service.js';

/** A promise and the function that settles it: one step of a forced interleaving. */
function signal(): { promise: Promise<void>; fire(): void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => (fire = resolve));
  return { promise, fire };
}

/** The store on disk, with a hook that can hold a delete half-way (after it was decided, before it runs). */
class HookedStore implements ObjectStore {
  beforeDelete: (key: string) => Promise<void> = async () => {};
  failDelete = false;
  constructor(private readonly store: LocalObjectStore) {}
  put(key: string, data: Buffer) {
    return this.store.put(key, data);
  }
  get(key: string) {
    return this.store.get(key);
  }
  exists(key: string) {
    return this.store.exists(key);
  }
  async delete(key: string) {
    await this.beforeDelete(key);
    if (this.failDelete) throw new Error('object store unavailable');
    return this.store.delete(key);
  }
}

/** The queue port, recording; it can be made to refuse (Redis away) to drive the upload's undo. */
class RecordingQueue {
  readonly embedded: EmbedImagePayload[] = [];
  refuse = false;
  async enqueueEmbedImage(payload: EmbedImagePayload): Promise<void> {
    if (this.refuse) throw new Error('queue unavailable');
    this.embedded.push(payload);
  }
}

async function picture(seed: number): Promise<Buffer> {
  return sharp({ create: { width: 8, height: 8, channels: 3, background: { r: seed % 256, g: (seed * 7) % 256, b: 40 } } }).png().toBuffer();
}

interface Database {
  name: string;
  open(): Promise<{ db: SqlClient; close(): Promise<void> }>;
}

const databases: Database[] = [
  {
    name: 'PGlite in-process',
    async open() {
      const db = await PGliteClient.open();
      return { db, close: () => db.close() };
    },
  },
  {
    name: 'PGlite over the wire (pg)',
    async open() {
      const pglite = await PGliteClient.open();
      const server = await startPgliteWire(pglite.instance, 0);
      const port = Number(server.getServerConn().split(':').pop());
      const db = await PgClient.connect(`postgres://postgres:postgres@127.0.0.1:${port}/postgres`, 4);
      return {
        db,
        async close() {
          await db.close();
          await stopPgliteWire(server);
          await pglite.close();
        },
      };
    },
  },
];
const postgresUrl = process.env.LOOKALIKE_TEST_POSTGRES_URL;
if (postgresUrl) {
  databases.push({
    name: 'PostgreSQL (LOOKALIKE_TEST_POSTGRES_URL)',
    async open() {
      const db = await PgClient.connect(postgresUrl, 4);
      await db.exec('DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;');
      return { db, close: () => db.close() };
    },
  });
}

for (const database of databases) {
  describe(`shared originals on ${database.name}`, () => {
    let opened: { db: SqlClient; close(): Promise<void> };
    let root: string;
    let images: ImageRepository;
    let store: HookedStore;
    let queue: RecordingQueue;
    let uploads: UploadImageService;
    let imageService: ImageService;
    let seed = 0;

    before(async () => {
      opened = await database.open();
      await migrate(opened.db);
      root = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-originals-'));
      images = new SqlImageRepository(opened.db);
      store = new HookedStore(new LocalObjectStore(root));
      queue = new RecordingQueue();
      uploads = new UploadImageService({
        images,
        objects: store,
        codec: new SharpImageCodec(),
        queue: queue as unknown as JobQueue,
        limits: { maxBytes: 1 << 20, maxPixels: 1 << 20 },
      });
      imageService = new ImageService({ images, objects: store });
    });

    after(async () => {
      await opened.close();
      await fs.rm(root, { recursive: true, force: true });
    });

    const upload = (bytes: Buffer) => uploads.upload({ bytes, collection: 'c', label: null, metadata: null });

    test('identical uploads share one object; it goes with the last row that uses it', async () => {
      const bytes = await picture(++seed);
      const a = await upload(bytes);
      const b = await upload(bytes);
      assert.equal(a.objectKey, b.objectKey);
      assert.deepEqual(queue.embedded.slice(-2), [{ v: 1, imageId: a.id }, { v: 1, imageId: b.id }], 'a job for each row');
      assert.deepEqual(await store.get(a.objectKey), bytes);
      await imageService.delete(a.id);
      assert.equal(await store.exists(a.objectKey), true, 'b still uses it');
      await imageService.delete(b.id);
      assert.equal(await store.exists(a.objectKey), false);
      assert.equal(await images.countByObjectKey(a.objectKey), 0);
    });

    test("an identical upload arriving while the last row's delete removes the object still ends up with its object", async () => {
      const bytes = await picture(++seed);
      const first = await upload(bytes);
      // The delete has counted no other row and is about to remove the object: hold it there.
      const deleting = signal();
      const proceed = signal();
      store.beforeDelete = async () => {
        deleting.fire();
        await proceed.promise;
      };
      const removal = imageService.delete(first.id);
      await deleting.promise;
      // The identical upload starts now and gets as far as writing its row (which waits for the key).
      const creating = signal();
      const create = images.create.bind(images);
      images.create = (image) => (creating.fire(), create(image));
      const second = upload(bytes);
      await creating.promise;
      images.create = create;
      proceed.fire();
      const [, record] = await Promise.all([removal, second]);
      store.beforeDelete = async () => {};
      assert.equal(await images.findById(first.id), null);
      assert.equal((await images.findById(record.id))?.objectKey, first.objectKey);
      assert.equal(await store.exists(record.objectKey), true, 'the new row must not point at a removed object');
      assert.deepEqual(await store.get(record.objectKey), bytes);
      await imageService.delete(record.id);
    });

    test('a delete whose object removal fails keeps the row: nothing is half gone', async () => {
      const bytes = await picture(++seed);
      const record = await upload(bytes);
      store.failDelete = true;
      await assert.rejects(imageService.delete(record.id), /object store unavailable/);
      store.failDelete = false;
      assert.equal((await images.findById(record.id))?.id, record.id, 'the row is back (rolled back)');
      assert.equal(await store.exists(record.objectKey), true);
      await imageService.delete(record.id);
      assert.equal(await store.exists(record.objectKey), false);
    });

    test('an upload the queue refuses leaves no row, and removes the object only when no other row shares it', async () => {
      const shared = await picture(++seed);
      const kept = await upload(shared);
      const alone = await picture(++seed);
      const before = await images.list({ collection: 'c' }, 100);
      queue.refuse = true;
      await assert.rejects(upload(shared), /queue unavailable/);
      await assert.rejects(upload(alone), /queue unavailable/);
      queue.refuse = false;
      const afterwards = await images.list({ collection: 'c' }, 100);
      assert.deepEqual(afterwards.images.map((i) => i.id), before.images.map((i) => i.id), 'no row kept');
      assert.equal(await store.exists(kept.objectKey), true, 'still used by the stored image');
      assert.equal(await store.exists(objectKeyFor(sha256Of(alone))), false, 'no orphan object');
      await imageService.delete(kept.id);
    });

    test('identical uploads and deletes racing each other leave every stored row with its object', async () => {
      const bytes = await picture(++seed);
      const sha256 = sha256Of(bytes);
      const key = objectKeyFor(sha256);
      await upload(bytes);
      const stored = async () => (await images.list({ sha256 }, 100)).images;
      // Rounds of: delete every row of the key while as many identical uploads run.
      for (let round = 0; round < 5; round++) {
        const rows = await stored();
        await Promise.all([...rows.map((r) => imageService.delete(r.id)), upload(bytes), upload(bytes), upload(bytes)]);
        assert.equal((await stored()).length, 3, `round ${round}`);
        assert.equal(await store.exists(key), true, `round ${round}: rows are stored and their object is gone`);
      }
      for (const r of await stored()) await imageService.delete(r.id);
      assert.equal(await store.exists(key), false);
    });
  });
}

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}
