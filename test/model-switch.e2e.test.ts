/**
 * Model versions end to end: images stored under seeded random weights, then the worker restarts
 * with a weights file. Search keeps answering from the old vectors while the new ones are made, a
 * worker restart half-way resumes the same re-embedding, the switch is atomic, the old vectors go;
 * a switch can be cancelled (rolled back).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildDenseNet, DENSENET_TINY } from '@lookalike/embedding/densenet';
import { initBackend } from '@lookalike/embedding/runtime';
import { writeKerasH5Weights } from '@lookalike/embedding/weights/index';
import type { Embedder } from '@lookalike/shared/ports';
import { BullmqJobQueue } from '@lookalike/shared/queue/bullmq-job-queue';
import { distinctImage } from './fixtures/images.js';
import { collectUntilComplete, startTestService, subscribeFor, type TestService, waitFor } from './helpers/service.js';

const UPLOAD = `mutation ($file: Upload!, $label: String) {
  uploadImage(file: $file, collection: "switch", label: $label) { id }
}`;
const SIMILAR = `query ($id: ID!) { similarImages(imageId: $id, k: 3) { image { id } distance } }`;
const PROGRESS = `subscription ($id: ID) { reembeddingProgress(id: $id) { id state done total failed model replaces } }`;
const IMAGES = 10;

let service: TestService;
let weightsDir: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The same model, one call at a time and slower, so the switch can be watched half-way. */
const slow = (inner: Embedder): Embedder => ({
  info: inner.info,
  embed: async (images) => {
    await sleep(120);
    return inner.embed(images);
  },
  close: () => inner.close(),
});

before(async () => {
  service = await startTestService({ REEMBED_SWEEP_MS: '200', RETIRED_VECTORS_GRACE_MS: '300' });
  weightsDir = await fs.mkdtemp(path.join(os.tmpdir(), 'switch-weights-'));
  await initBackend('cpu');
  const model = buildDenseNet({ ...DENSENET_TINY, seed: 11 });
  await writeKerasH5Weights(model, path.join(weightsDir, 'tiny.h5'));
  model.dispose();
});

after(async () => {
  await service?.stop();
  await fs.rm(weightsDir, { recursive: true, force: true });
});

type Answer = string;
const answer = async (id: string): Promise<Answer> => {
  const res = await service.gql(SIMILAR, { id });
  assert.equal(res.errors, undefined, JSON.stringify(res.errors));
  assert.equal(res.data.similarImages.length, 3, 'search answers with k results throughout');
  return res.data.similarImages.map((n: any) => `${n.image.id}@${n.distance.toFixed(5)}`).join(' ');
};
const activeModel = async (): Promise<string> => (await service.gql('{ model { id } }')).data.model.id;
const vectorCount = async (model: string) =>
  Number((await service.db.query<{ n: number }>('SELECT count(*) AS n FROM image_embeddings WHERE model = $1', [model]))[0].n);

test('switching from random to file weights: search never mixes models, a restart resumes, the switch is atomic', async () => {
  const ids: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const res = await service.upload(UPLOAD, { label: i % 2 ? 'odd' : 'even' }, { field: 'file', bytes: await distinctImage(500 + i) });
    ids.push(res.data.uploadImage.id);
  }
  await waitFor(async () => {
    const rows = await service.db.query<{ n: number }>("SELECT count(*) AS n FROM images WHERE status = 'READY'");
    return Number(rows[0].n) === IMAGES;
  }, 30_000, 'all images READY');
  const oldModel = await activeModel();
  assert.match(oldModel, /:random-seed-1$/);
  const probe = ids[0];
  const before = await answer(probe);

  const first = await service.replaceWorker({ MODEL_WEIGHTS: path.join(weightsDir, 'tiny.h5'), WORKER_CONCURRENCY: '1' }, slow);
  assert.equal(first.role.role, 'pending');
  const reembeddingId = (first.role as { reembeddingId: string }).reembeddingId;
  const newModel = service.embedder.info.id;
  assert.match(newModel, /:weights-[0-9a-f]{12}$/);
  assert.notEqual(newModel, oldModel);

  const progress = collectUntilComplete<any>(service.ws(), PROGRESS, { id: reembeddingId }).catch((e: Error) => e);
  const status = await service.gql('query ($id: ID) { reembedding(id: $id) { state model replaces total } }', { id: reembeddingId });
  assert.deepEqual(status.data.reembedding, { state: 'RUNNING', model: newModel, replaces: oldModel, total: IMAGES });

  // Watch search while the new vectors are made; restart the worker once a few are done.
  const seen: { model: string; answer: Answer }[] = [];
  let restarted = false;
  for (;;) {
    // The switch may land between reading the model and searching: keep only probes that saw one model.
    const model = await activeModel();
    const probeAnswer = await answer(probe);
    if ((await activeModel()) !== model) continue;
    seen.push({ model, answer: probeAnswer });
    if (model === newModel) break;
    const { done } = (await service.gql('{ reembedding { done } }')).data.reembedding;
    if (!restarted && done >= 3) {
      assert.ok(done < IMAGES, 'the restart happens half-way');
      const again = await service.replaceWorker({ MODEL_WEIGHTS: path.join(weightsDir, 'tiny.h5'), WORKER_CONCURRENCY: '1' }, slow);
      assert.deepEqual(again.role, { role: 'pending', reembeddingId }, 'the restarted worker resumes the same re-embedding');
      restarted = true;
    }
    await sleep(20);
  }
  assert.ok(restarted);
  const afterSwitch = await answer(probe);
  assert.notEqual(afterSwitch, before, 'the two models place the images differently');

  // Every answer came whole from one model: the old one until the switch, the new one after.
  const firstNew = seen.findIndex((s) => s.model === newModel);
  assert.ok(firstNew > 2, `search answered from the old model while re-embedding (${seen.length} probes)`);
  seen.forEach((s, i) => {
    assert.equal(s.model, i < firstNew ? oldModel : newModel, 'the active model switches once');
    assert.equal(s.answer, i < firstNew ? before : afterSwitch, `probe ${i} mixes nothing`);
  });

  const final = (await service.gql('query ($id: ID) { reembedding(id: $id) { state done failed total } }', { id: reembeddingId })).data.reembedding;
  assert.deepEqual(final, { state: 'COMPLETE', done: IMAGES, failed: 0, total: IMAGES });
  const events = await progress;
  assert.ok(Array.isArray(events), `progress subscription: ${events}`);
  const states = (events as any[]).map((e) => e.reembeddingProgress);
  assert.equal(states[0].state, 'RUNNING');
  assert.deepEqual(states.at(-1), { id: reembeddingId, state: 'COMPLETE', done: IMAGES, total: IMAGES, failed: 0, model: newModel, replaces: oldModel });
  for (let i = 1; i < states.length; i++) assert.ok(states[i].done >= states[i - 1].done, 'progress only moves forward');

  // The old vectors are removed after the grace period; every image has a new one.
  await waitFor(async () => (await vectorCount(oldModel)) === 0, 10_000, 'old vectors purged');
  assert.equal(await vectorCount(newModel), IMAGES);

  // New uploads are classified with the new model.
  const res = await service.upload(UPLOAD, { label: null }, { field: 'file', bytes: await distinctImage(999) });
  const [ready] = await subscribeFor<any>(service.ws(), 'subscription ($id: ID) { classificationReady(imageId: $id) { model label } }', { id: res.data.uploadImage.id });
  assert.equal(ready.classificationReady.model, newModel);
});

test('reembed(collection) embeds and classifies a collection again with the active model, with progress', async () => {
  const model = await activeModel();
  const started = await service.gql('mutation { reembed(collection: "switch") { id state total model replaces collection } }');
  assert.equal(started.errors, undefined, JSON.stringify(started.errors));
  const r = started.data.reembed;
  assert.deepEqual({ ...r, id: undefined }, { id: undefined, state: 'RUNNING', total: IMAGES + 1, model, replaces: null, collection: 'switch' });
  const events = await collectUntilComplete<any>(service.ws(), PROGRESS, { id: r.id }, 30_000);
  assert.deepEqual(events.at(-1).reembeddingProgress, { id: r.id, state: 'COMPLETE', done: IMAGES + 1, total: IMAGES + 1, failed: 0, model, replaces: null });
  assert.equal(await activeModel(), model, 'no switch');

  const empty = await service.gql('mutation { reembed(collection: "nothing-here") { state total } }');
  assert.deepEqual(empty.data.reembed, { state: 'COMPLETE', total: 0 });
  const bad = await service.gql('mutation { reembed(collection: "") { id } }');
  assert.equal(bad.errors?.[0].extensions.code, 'BAD_USER_INPUT');
  const unknown = await service.gql('{ reembedding(id: "00000000-0000-0000-0000-000000000000") { id } }');
  assert.equal(unknown.errors?.[0].extensions.code, 'NOT_FOUND');
});

test('cancelReembedding rolls a pending switch back: the old model stays, the new one\'s queued jobs are dropped and its vectors go', async () => {
  const keep = await activeModel();
  const probe = (await service.db.query<{ id: string }>("SELECT id FROM images WHERE collection = 'switch' LIMIT 1"))[0].id;
  const before = await answer(probe);
  const pending = await service.replaceWorker({ MODEL_WEIGHTS: '', MODEL_SEED: '2', WORKER_CONCURRENCY: '1' }, slow);
  assert.equal(pending.role.role, 'pending');
  const id = (pending.role as { reembeddingId: string }).reembeddingId;
  const abandoned = service.embedder.info.id;
  await waitFor(async () => (await service.gql('query ($id: ID) { reembedding(id: $id) { done } }', { id })).data.reembedding.done >= 2, 30_000, 'a few done');
  // An upload meanwhile (elsewhere, so the probe's answer stays comparable) is embedded by the new model only.
  const elsewhere = 'mutation ($file: Upload!) { uploadImage(file: $file, collection: "meanwhile") { id } }';
  const uploaded = (await service.upload(elsewhere, {}, { field: 'file', bytes: await distinctImage(777) })).data.uploadImage.id;
  const [during] = await subscribeFor<any>(service.ws(), 'subscription ($id: ID) { classificationReady(imageId: $id) { model } }', { id: uploaded });
  assert.equal(during.classificationReady.model, abandoned);

  // The rollback: the new model's workers go, the old model's come back; they will not run its jobs.
  const back = await service.replaceWorker({ MODEL_WEIGHTS: path.join(weightsDir, 'tiny.h5') });
  assert.deepEqual(back.role, { role: 'active' });
  const jobs = new BullmqJobQueue(service.infra.producerRedis, service.infra.blockingRedis, { prefix: service.config.QUEUE_PREFIX, attempts: 1, backoffMs: 1 });
  try {
    const queued = async (...states: Array<'delayed' | 'waiting' | 'prioritized' | 'active'>) => {
      const counts = await jobs.jobCounts();
      return states.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
    };
    await waitFor(async () => (await queued('delayed')) > 0, 10_000, "the new model's jobs bounce while its re-embedding runs");
    const progress = collectUntilComplete<any>(service.ws(), PROGRESS, { id }).catch((e: Error) => e);
    await sleep(100); // subscribed before the cancel
    const cancelled = await service.gql('mutation ($id: ID!) { cancelReembedding(id: $id) { id state model replaces total done } }', { id });
    assert.equal(cancelled.errors, undefined, JSON.stringify(cancelled.errors));
    const r = cancelled.data.cancelReembedding;
    assert.deepEqual([r.state, r.model, r.replaces], ['CANCELLED', abandoned, keep]);
    assert.ok(r.done >= 2 && r.done < r.total, `cancelled half-way (${r.done} of ${r.total})`);
    const events = await progress;
    assert.ok(Array.isArray(events), `progress subscription: ${events}`);
    assert.equal((events as any[]).at(-1).reembeddingProgress.state, 'CANCELLED', 'subscribers see it end');

    // The old model's worker drops the jobs when they come back (not in 5-second bounces for ever).
    await waitFor(async () => (await queued('delayed', 'waiting', 'prioritized', 'active')) === 0, 20_000, 'no re-embedding job left in the queue');
  } finally {
    await jobs.close();
  }
  await waitFor(async () => (await vectorCount(abandoned)) === 0, 10_000, "the abandoned model's vectors purged");
  // The image only the abandoned model had embedded gets a vector and a classification of the model that stays.
  await waitFor(async () => (await service.infra.vectors.get(uploaded, keep)) !== null, 15_000, 'the upload made during the switch re-embedded');
  const classified = await service.gql('query ($id: ID!) { image(id: $id) { status classification { model } } }', { id: uploaded });
  assert.deepEqual(classified.data.image, { status: 'READY', classification: { model: keep } });
  assert.equal(await activeModel(), keep);
  assert.equal(await answer(probe), before, 'search answers as before the switch began');

  const again = await service.gql('mutation ($id: ID!) { cancelReembedding(id: $id) { id } }', { id });
  assert.equal(again.errors?.[0].extensions.code, 'BAD_USER_INPUT');
  assert.match(again.errors[0].message, /is CANCELLED already/);
  const unknown = await service.gql('mutation { cancelReembedding(id: "00000000-0000-0000-0000-000000000000") { id } }');
  assert.equal(unknown.errors?.[0].extensions.code, 'NOT_FOUND');
  const malformed = await service.gql('mutation { cancelReembedding(id: "nope") { id } }');
  assert.equal(malformed.errors?.[0].extensions.code, 'NOT_FOUND');
});
