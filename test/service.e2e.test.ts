// End to end through the real HTTP endpoint and graphql-ws: real redis-server, PGlite + pgvector,
// the real worker with the small DenseNet (same code path as DenseNet121, see densenet121.e2e.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { QueueName } from '@lookalike/shared/queue/names';
import { startApi } from '@lookalike/api/app';
import { createInfrastructure } from '@lookalike/shared/infrastructure';
import { Queue } from 'bullmq';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { badImages, distinctImage, goodImages } from './fixtures/images.js';
import { type TestService, startTestService, subscribeFor, waitFor } from './helpers/service.js';

const UPLOAD = `mutation ($file: Upload!, $collection: String, $label: String, $metadata: JSON) {
  uploadImage(file: $file, collection: $collection, label: $label, metadata: $metadata) {
    id collection label status width height contentType sha256 url metadata createdAt
  }
}`;
const READY = `subscription ($imageId: ID, $collection: String) {
  classificationReady(imageId: $imageId, collection: $collection) {
    label confidence model
    image { id status error label collection }
    neighbors { distance image { id label } }
  }
}`;

interface ReadyEvent {
  classificationReady: {
    label: string | null;
    confidence: number;
    model: string;
    image: { id: string; status: string; error: string | null; label: string | null; collection: string };
    neighbors: Array<{ distance: number; image: { id: string; label: string | null } }>;
  };
}

describe('Lookalike service end to end', () => {
  let svc: TestService;

  before(async () => {
    svc = await startTestService();
  });
  after(async () => {
    await svc?.stop();
  });

  async function upload(bytes: Buffer, variables: Record<string, unknown> = {}) {
    return svc.upload(UPLOAD, { collection: 'default', ...variables }, { field: 'file', bytes });
  }

  async function uploadOk(bytes: Buffer, variables: Record<string, unknown> = {}) {
    const res = await upload(bytes, variables);
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    return res.data.uploadImage as { id: string; status: string; sha256: string; url: string; width: number; height: number };
  }

  async function untilSettled(id: string) {
    return waitFor(async () => {
      const r = await svc.gql(`query ($id: ID!) { image(id: $id) { status error classification { label confidence model } } }`, { id });
      const image = r.data?.image;
      return image && (image.status === 'READY' || image.status === 'FAILED') ? image : null;
    }, 60_000, `image ${id} to settle`);
  }

  async function counts() {
    const [rows] = await svc.db.query<{ n: number }>('SELECT count(*)::int AS n FROM images');
    const queue = new Queue(QueueName.Images, { connection: svc.infra.producerRedis, prefix: svc.config.QUEUE_PREFIX });
    const jobs = await queue.getJobCounts('wait', 'prioritized', 'active', 'delayed', 'completed', 'failed');
    await queue.close();
    return { rows: rows.n, jobs: Object.values(jobs).reduce((a, b) => a + b, 0) };
  }

  test('health and model: the service says it runs random weights', async () => {
    const res = await fetch(`${svc.url}/healthz`);
    assert.equal(res.status, 200);
    const m = await svc.gql('{ model { id dimension pretrained runtime weightsSource } }');
    assert.equal(m.data.model.pretrained, false);
    assert.match(m.data.model.id, /:random-seed-1$/);
  });

  test('upload → subscription by collection: labelled references, then a query image gets their label', async () => {
    const collection = 'shapes';
    const feed = subscribeFor<ReadyEvent>(svc.ws(), READY, { collection }, 4);
    await new Promise((r) => setTimeout(r, 300)); // let the subscription reach the server
    const refs: Array<{ id: string }> = [];
    for (const [seed, label] of [[1, 'one'], [2, 'two'], [3, 'three']] as const) {
      refs.push(await uploadOk(await distinctImage(seed), { collection, label, metadata: { seed } }));
    }
    // The same picture as reference "two", re-encoded a little differently: its nearest is "two".
    const queryBytes = await distinctImage(2, 72);
    const query = await uploadOk(queryBytes, { collection });
    const events = (await feed).map((e) => e.classificationReady);
    assert.deepEqual(new Set(events.map((e) => e.image.id)), new Set([...refs.map((r) => r.id), query.id]));
    const q = events.find((e) => e.image.id === query.id)!;
    assert.equal(q.image.status, 'READY');
    assert.equal(q.neighbors.length, 3);
    assert.equal(q.neighbors[0].image.label, 'two');
    assert.equal(q.label, 'two');
    assert.ok(q.confidence > 0 && q.confidence <= 1);
    assert.ok(q.neighbors.every((n, i) => i === 0 || q.neighbors[i - 1].distance <= n.distance));
    assert.match(q.model, /random-seed-1/);
    // Labelled uploads are classified too (by the others), so predictions can be checked.
    const last = events.find((e) => e.image.id === refs[2].id)!;
    assert.ok(last.neighbors.every((n) => n.image.id !== refs[2].id));
  });

  test('a subscriber on another API replica gets the event (Redis pub/sub)', async () => {
    const infra2 = await createInfrastructure(svc.config, { db: svc.db });
    const api2 = await startApi(svc.config, infra2);
    const client = createClient({ url: `${api2.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
    try {
      const feed = subscribeFor<ReadyEvent>(client, READY, { collection: 'replicas' }, 1);
      await new Promise((r) => setTimeout(r, 300));
      const image = await uploadOk(await distinctImage(30), { collection: 'replicas', label: 'r' });
      const [event] = await feed;
      assert.equal(event.classificationReady.image.id, image.id);
    } finally {
      await client.dispose();
      await api2.close();
      await infra2.close();
    }
  });

  test('a client that subscribes by imageId after the result exists gets it at once', async () => {
    const image = await uploadOk(await distinctImage(10), { collection: 'late', label: 'x' });
    await untilSettled(image.id);
    const [event] = await subscribeFor<ReadyEvent>(svc.ws(), READY, { imageId: image.id }, 1, 5000);
    assert.equal(event.classificationReady.image.id, image.id);
    assert.equal(event.classificationReady.image.status, 'READY');
  });

  test('similarImages by stored id, by uploaded image, and the original is served at url', async () => {
    const collection = 'search';
    const ids: string[] = [];
    for (let seed = 20; seed < 26; seed++) ids.push((await uploadOk(await distinctImage(seed), { collection, label: `s${seed}` })).id);
    for (const id of ids) await untilSettled(id);
    const byId = await svc.gql(`query ($id: ID!) { similarImages(imageId: $id, k: 3) { distance image { id collection } } }`, { id: ids[0] });
    assert.equal(byId.errors, undefined, JSON.stringify(byId.errors));
    assert.equal(byId.data.similarImages.length, 3);
    assert.ok(byId.data.similarImages.every((n: any) => n.image.id !== ids[0] && n.image.collection === collection));

    const bytes = await distinctImage(23);
    const byUpload = await svc.upload(
      `query ($img: Upload, $c: String) { similarImages(image: $img, collection: $c, k: 2) { distance image { id } } }`,
      { c: collection },
      { field: 'img', bytes },
    );
    assert.equal(byUpload.errors, undefined, JSON.stringify(byUpload.errors));
    assert.equal(byUpload.data.similarImages[0].image.id, ids[3]);
    assert.ok(byUpload.data.similarImages[0].distance < 1e-4);
    // The query image is not kept.
    const [{ n }] = await svc.db.query<{ n: number }>("SELECT count(*)::int AS n FROM images WHERE collection = 'search'");
    assert.equal(n, 6);

    const first = await svc.gql(`query ($id: ID!) { image(id: $id) { url } }`, { id: ids[0] });
    const original = await fetch(first.data.image.url.replace(/^http:\/\/localhost:\d+/, svc.url));
    assert.equal(original.status, 200);
    assert.deepEqual(Buffer.from(await original.arrayBuffer()), await distinctImage(20));
  });

  test('images lists with keyset pagination', async () => {
    const p1 = await svc.gql(`{ images(collection: "search", first: 4) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }`);
    assert.equal(p1.data.images.totalCount, 6);
    assert.equal(p1.data.images.nodes.length, 4);
    assert.equal(p1.data.images.pageInfo.hasNextPage, true);
    const p2 = await svc.gql(`query ($a: String) { images(collection: "search", first: 4, after: $a) { pageInfo { hasNextPage } nodes { id } } }`, {
      a: p1.data.images.pageInfo.endCursor,
    });
    assert.equal(p2.data.images.nodes.length, 2);
    assert.equal(p2.data.images.pageInfo.hasNextPage, false);
    const all = new Set([...p1.data.images.nodes, ...p2.data.images.nodes].map((n: any) => n.id));
    assert.equal(all.size, 6);
  });

  describe('bad input gets BAD_USER_INPUT and leaves nothing behind', () => {
    const cases: Array<[string, () => Promise<Buffer>, RegExp]> = [
      ['not an image', async () => (await badImages()).text.bytes, /not a supported image|not an image|supported/i],
      ['an empty file', async () => Buffer.alloc(0), /empty/i],
      ['a truncated JPEG', async () => (await badImages())['jpeg-truncated'].bytes, /truncated|damaged|corrupt|incomplete/i],
      ['a PNG that declares 20000×20000 pixels', async () => (await badImages())['png-huge-header'].bytes, /20000x20000|limit/i],
      ['a BMP (no decoder)', async () => (await badImages()).bmp.bytes, /BMP/],
    ];
    for (const [name, bytes, message] of cases) {
      test(name, async () => {
        const before = await counts();
        const res = await upload(await bytes());
        assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(res));
        assert.match(res.errors[0].message, message);
        assert.deepEqual(await counts(), before);
        assert.equal((await fetch(`${svc.url}/healthz`)).status, 200);
      });
    }

    test('a file over the size limit', async () => {
      const before = await counts();
      const big = Buffer.concat([await distinctImage(1), Buffer.alloc(svc.config.MAX_UPLOAD_BYTES)]);
      const res = await upload(big);
      assert.equal(res.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', JSON.stringify(res));
      assert.match(res.errors[0].message, /limit/);
      assert.deepEqual(await counts(), before);
    });

    test('k 0 and 101, an unknown imageId, a malformed id, both or neither of imageId and image', async () => {
      const [some] = (await svc.gql('{ images(first: 1) { nodes { id } } }')).data.images.nodes;
      for (const k of [0, 101]) {
        const r = await svc.gql(`query ($id: ID!, $k: Int) { similarImages(imageId: $id, k: $k) { distance } }`, { id: some.id, k });
        assert.equal(r.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
        assert.match(r.errors[0].message, /k must be/);
      }
      const unknown = await svc.gql(`{ similarImages(imageId: "00000000-0000-4000-8000-000000000000") { distance } }`);
      assert.equal(unknown.errors?.[0]?.extensions?.code, 'NOT_FOUND');
      const malformed = await svc.gql(`{ similarImages(imageId: "nope") { distance } image(id: "nope") { id } }`);
      assert.equal(malformed.errors?.[0]?.extensions?.code, 'NOT_FOUND');
      const neither = await svc.gql(`{ similarImages { distance } }`);
      assert.equal(neither.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
      assert.equal((await svc.gql(`{ image(id: "00000000-0000-4000-8000-000000000000") { id } }`)).data.image, null);
    });

    test('an upload without the preflight header is refused by CSRF prevention', async () => {
      const form = new FormData();
      form.append('operations', JSON.stringify({ query: UPLOAD, variables: { file: null } }));
      form.append('map', JSON.stringify({ 0: ['variables.file'] }));
      form.append('0', new Blob([await distinctImage(1)]), 'a.png');
      const res = await fetch(`${svc.url}/graphql`, { method: 'POST', body: form });
      assert.equal(res.status, 400);
    });
  });

  test('an image that cannot be decoded in the worker fails at once, with an event', async () => {
    // Upload a good image, then damage its stored object before the worker reads it: the worker
    // sees a corrupt original (bit rot, a bad store) and must fail the image without retries.
    const bytes = await distinctImage(99);
    const { createHash } = await import('node:crypto');
    const sha = createHash('sha256').update(bytes).digest('hex');
    await svc.infra.objects.put(`originals/${sha.slice(0, 2)}/${sha}`, Buffer.from('corrupt'), 'image/png');
    const image = await uploadOk(bytes, { collection: 'broken' });
    const settled = await untilSettled(image.id);
    assert.equal(settled.status, 'FAILED');
    assert.match(settled.error, /image/i);
    assert.equal(settled.classification.label, null);
    assert.equal(settled.classification.confidence, 0);
  });

  test('a transient fault is retried with backoff and the image still becomes READY', async () => {
    // The store answers the worker with a connection error twice, then recovers.
    const objects = svc.infra.objects;
    const realGet = objects.get.bind(objects);
    let failures = 0;
    objects.get = async (key: string) => {
      if (key.startsWith('originals/') && failures < 2) {
        failures++;
        throw Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' });
      }
      return realGet(key);
    };
    try {
      const image = await uploadOk(await distinctImage(77), { collection: 'flaky' });
      const settled = await untilSettled(image.id);
      assert.equal(settled.status, 'READY', settled.error);
      assert.equal(failures, 2);
      const queue = new Queue(QueueName.Images, { connection: svc.infra.producerRedis, prefix: svc.config.QUEUE_PREFIX });
      const job = await queue.getJob(`embed-${image.id}`);
      await queue.close();
      // BullMQ counts every attempt: two that failed and the one that succeeded.
      assert.equal(job?.attemptsMade, 3);
    } finally {
      objects.get = realGet;
    }
  });

  test('images of many kinds classify; the service says which it cannot decode', async () => {
    const fixtures = await goodImages();
    const ids: Array<[string, string]> = [];
    for (const [name, f] of Object.entries(fixtures)) {
      const image = await uploadOk(f.bytes, { collection: 'formats', label: name });
      assert.equal(image.width, f.width, name);
      assert.equal(image.height, f.height, name);
      ids.push([name, image.id]);
    }
    for (const [name, id] of ids) {
      const settled = await untilSettled(id);
      assert.equal(settled.status, 'READY', `${name}: ${settled.error}`);
    }
  });
});
