// The KEDA triggers that scale the workers count what BullMQ has waiting, on a real Redis with real
// BullMQ jobs of every kind Lookalike makes. The keys, the way KEDA reads them and the formula that
// sums them are all taken from the ScaledObject manifests, so the manifests and this test cannot
// drift apart.
//
// KEDA's redis scaler (pkg/scalers/redis_scaler.go, since v2.0) runs one Lua script per trigger:
// it asks the key's TYPE and answers ZCARD for a sorted set, SCARD for a set, HLEN for a hash and
// LLEN for a list or a missing key. readLikeKeda() below does the same, server-side, in one EVAL.
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startLocalRedis, type LocalRedis } from '@lookalike/shared/local-redis';
import { BullmqJobQueue } from '@lookalike/shared/queue/bullmq-job-queue';
import { JobName, JobPriority, QueueName } from '@lookalike/shared/queue/names';
import { createRedis } from '@lookalike/shared/queue/redis';
import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MANIFESTS = ['infra/k8s/base/worker-scaledobject.yaml', 'infra/k8s/overlays/gpu/worker-gpu-scaledobject.yaml'];

/** The script KEDA's redis scaler evaluates for `listName` (KEYS[1]). */
const KEDA_LENGTH_SCRIPT = `
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'zset' then return redis.call('ZCARD', KEYS[1])
elseif t == 'set' then return redis.call('SCARD', KEYS[1])
elseif t == 'hash' then return redis.call('HLEN', KEYS[1])
elseif t == 'list' or t == 'none' then return redis.call('LLEN', KEYS[1])
else return redis.error_reply('ERR unsupported key type: ' .. t) end`;

interface Trigger {
  name: string;
  listName: string;
}
interface ScaledObject {
  file: string;
  triggers: Trigger[];
  formula: string;
}

async function loadScaledObjects(): Promise<ScaledObject[]> {
  const out: ScaledObject[] = [];
  for (const file of MANIFESTS) {
    const docs = parseAllDocuments(await fs.readFile(path.join(ROOT, file), 'utf8')).map((d) => d.toJS());
    for (const so of docs.filter((d) => d?.kind === 'ScaledObject')) {
      out.push({
        file,
        triggers: so.spec.triggers.map((t: any) => {
          assert.equal(t.type, 'redis', `${file}: trigger ${t.name}`);
          return { name: t.name, listName: t.metadata.listName };
        }),
        formula: so.spec.advanced.scalingModifiers.formula,
      });
    }
  }
  assert.equal(out.length, MANIFESTS.length);
  return out;
}

/** The formulas are plain sums of trigger names (test/infra.test.ts insists); evaluated as such. */
function evaluateFormula(formula: string, values: Record<string, number>): number {
  return formula.split('+').reduce((sum, term) => {
    const name = term.trim();
    assert.ok(name in values, `formula names ${name}, which is no trigger`);
    return sum + values[name];
  }, 0);
}

/** Every client a test opens, so that all are closed before Redis stops (BullMQ leaves lent ones open). */
const clients: Redis[] = [];
function connect(url: string, role: 'blocking' | 'producer'): Redis {
  const c = createRedis(url, role);
  clients.push(c);
  return c;
}

async function readLikeKeda(redis: Redis, triggers: Trigger[]): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (const t of triggers) values[t.name] = Number(await redis.eval(KEDA_LENGTH_SCRIPT, 1, t.listName));
  return values;
}

describe('KEDA triggers count the work waiting in BullMQ (real Redis, real jobs)', () => {
  let redis: LocalRedis;
  let dir: string;
  let client: Redis;
  let scaled: ScaledObject[];
  let prefix: string;

  before(async () => {
    scaled = await loadScaledObjects();
    // The prefix the manifests are written for is the one the ConfigMap gives the app.
    const cm = parseYaml(await fs.readFile(path.join(ROOT, 'infra/k8s/base/configmap.yaml'), 'utf8'));
    prefix = cm.data.QUEUE_PREFIX;
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-keda-'));
    redis = await startLocalRedis(path.join(dir, 'redis'));
    client = connect(redis.url, 'blocking');
  });

  after(async () => {
    for (const c of clients) c.disconnect();
    await redis?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('the trigger keys are the BullMQ keys of the queue the app uses, with the configured prefix', () => {
    assert.equal(prefix, 'bull');
    for (const so of scaled) {
      const states = so.triggers.map((t) => {
        const m = new RegExp(`^${prefix}:${QueueName.Images}:([a-z-]+)$`).exec(t.listName);
        assert.ok(m, `${so.file}: ${t.listName} is not a key of ${prefix}:${QueueName.Images}`);
        return m[1];
      });
      // `wait` alone never sees a prioritized job: both must be there.
      assert.ok(states.includes('wait') && states.includes('prioritized'), `${so.file}: wait and prioritized`);
    }
  });

  it('sums to BullMQ\'s own counts with plain, prioritized (all three priorities), delayed and active jobs', async () => {
    const connection = connect(redis.url, 'blocking');
    const queue = new Queue(QueueName.Images, { connection, prefix });
    // Ingest jobs exactly as the API makes them (priority 10).
    const producer = new BullmqJobQueue(connect(redis.url, 'producer'), () => connect(redis.url, 'blocking'), { prefix, attempts: 3, backoffMs: 1000 });
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let worker: Worker | undefined;
    try {
      for (let i = 0; i < 7; i++) await producer.enqueueEmbedImage({ v: 1, imageId: `img-${i}` });
      // Searches by image (priority 1); embedQueryImage() would wait for a result, so added directly.
      for (let i = 0; i < 3; i++) await queue.add(JobName.EmbedQuery, { objectKey: `q-${i}` }, { priority: JobPriority[JobName.EmbedQuery] });
      // Re-embedding jobs as a model switch makes them (priority 20, addBulk).
      await producer.enqueueReembedImages([0, 1].map((i) => ({ v: 1, imageId: `r-${i}`, model: 'm', reembeddingId: null })));
      // No priority: these go to the `wait` list (nothing of ours does this today; a future job kind might).
      for (let i = 0; i < 4; i++) await queue.add('plain', { i });
      // A retry in back-off sits in `delayed`.
      await queue.add(JobName.EmbedImage, { imageId: 'later' }, { delay: 60_000, priority: JobPriority[JobName.EmbedImage] });

      const queued = await queue.getJobCounts('wait', 'prioritized', 'delayed', 'active');
      assert.deepEqual(queued, { wait: 4, prioritized: 12, delayed: 1, active: 0 });

      for (const so of scaled) {
        const values = await readLikeKeda(client, so.triggers);
        const byState = Object.fromEntries(so.triggers.map((t) => [t.listName.split(':').pop()!, values[t.name]]));
        assert.equal(byState.wait, queued.wait, `${so.file}: wait`);
        assert.equal(byState.prioritized, queued.prioritized, `${so.file}: prioritized`);
        assert.equal(
          evaluateFormula(so.formula, values),
          Object.keys(byState).reduce((sum: number, state: string): number => sum + (queued as Record<string, number>)[state], 0),
          `${so.file}: formula`,
        );
        // The waiting work proper: what getWaitingCount() + getPrioritizedCount() report.
        assert.equal(byState.wait + byState.prioritized, (await queue.getWaitingCount()) + (await queue.getPrioritizedCount()));
      }

      // One job taken by a worker and held: it leaves `prioritized` for `active`; the total stays.
      worker = new Worker(QueueName.Images, () => held, { connection: connect(redis.url, 'blocking'), prefix, concurrency: 1 });
      for (let i = 0; (await queue.getActiveCount()) !== 1; i++) {
        assert.ok(i < 200, 'the worker did not take a job');
        await new Promise((r) => setTimeout(r, 25));
      }
      const during = await queue.getJobCounts('wait', 'prioritized', 'delayed', 'active');
      // Jobs without a priority are taken first.
      assert.deepEqual(during, { wait: 3, prioritized: 12, delayed: 1, active: 1 });
      for (const so of scaled) {
        const values = await readLikeKeda(client, so.triggers);
        const byState = Object.fromEntries(so.triggers.map((t) => [t.listName.split(':').pop()!, values[t.name]]));
        for (const [state, n] of Object.entries(byState)) assert.equal(n, (during as Record<string, number>)[state], `${so.file}: ${state}`);
        assert.equal(evaluateFormula(so.formula, values), 17, `${so.file}: every job not finished is counted once`);
      }
    } finally {
      const closing = worker?.close();
      release();
      await closing;
      await producer.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('sees prioritized-only work, which a trigger on the `wait` list alone would miss', async () => {
    const connection = connect(redis.url, 'blocking');
    const queue = new Queue(QueueName.Images, { connection, prefix });
    const producer = new BullmqJobQueue(connect(redis.url, 'producer'), () => connect(redis.url, 'blocking'), { prefix, attempts: 3, backoffMs: 1000 });
    try {
      for (let i = 0; i < 5; i++) await producer.enqueueEmbedImage({ v: 1, imageId: `only-${i}` });
      for (const so of scaled) {
        const values = await readLikeKeda(client, so.triggers);
        const waitTrigger = so.triggers.find((t) => t.listName.endsWith(':wait'))!;
        assert.equal(values[waitTrigger.name], 0, 'BullMQ 6 keeps prioritized jobs out of the wait list');
        assert.equal(evaluateFormula(so.formula, values), 5, `${so.file}`);
      }
      // A paused queue (v6 keeps jobs where they are) still counts: the backlog is real.
      await queue.pause();
      for (const so of scaled) assert.equal(evaluateFormula(so.formula, await readLikeKeda(client, so.triggers)), 5);
      await queue.resume();
    } finally {
      await producer.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('reads zero from an empty queue (the scale-to-zero signal)', async () => {
    for (const so of scaled) assert.equal(evaluateFormula(so.formula, await readLikeKeda(client, so.triggers)), 0);
  });
});
