/**
 * Many processes at once, and the faults they must survive: 2 API and 3 worker processes (real
 * child processes, `npm run start:api` / `start:worker` as deployed) on one Redis and one database
 * (PGlite served over the wire by pglite-socket, reached through `pg` as a real Postgres would be;
 * see helpers/pglite-wire.ts for the two pglite-socket gaps this needed closed).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { freePort, type LocalRedis, startLocalRedis } from '@lookalike/shared/local-redis';
import { embedJobId } from '@lookalike/shared/queue/bullmq-job-queue';
import { QueueName } from '@lookalike/shared/queue/names';
import { Queue } from 'bullmq';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { distinctImage } from './fixtures/images.js';
import { graphqlMultipart } from './helpers/multipart.js';
import { startPgliteWire, stopPgliteWire } from './helpers/pglite-wire.js';
import { waitFor } from './helpers/service.js';

const root = path.resolve(import.meta.dirname, '..');

interface Proc {
  kind: 'api' | 'worker';
  child: ChildProcess;
  port: number;
  output: string[];
}

describe('2 API and 3 worker processes on one Redis and one database', () => {
  let dataDir: string;
  let pglite: PGlite;
  let socket: PGLiteSocketServer;
  let pgPort: number;
  let redis: LocalRedis;
  let redisPort: number;
  const procs: Proc[] = [];
  const clients: Client[] = [];
  let closing = false;
  let seed = 1000;

  const env = () => ({
    ...process.env,
    MODEL: 'tiny',
    HOST: '127.0.0.1',
    DATA_DIR: dataDir,
    DATABASE_URL: `postgres://postgres:postgres@127.0.0.1:${pgPort}/postgres`,
    DATABASE_POOL_SIZE: '3',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    LOG_LEVEL: 'info',
    WORKER_LOCK_MS: '2000',
    JOB_ATTEMPTS: '8',
    JOB_BACKOFF_MS: '500',
    SHUTDOWN_TIMEOUT_MS: '10000',
  });

  async function spawnProc(kind: 'api' | 'worker', extraEnv: Record<string, string> = {}, waitReady = true): Promise<Proc> {
    const port = await freePort();
    const entry = kind === 'api' ? 'apps/api/src/main.ts' : 'apps/worker/src/main.ts';
    const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: root, env: { ...env(), PORT: String(port), ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc: Proc = { kind, child, port, output: [] };
    child.stdout!.on('data', (d: Buffer) => proc.output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => proc.output.push(d.toString()));
    procs.push(proc);
    if (!waitReady) return proc;
    const ready = kind === 'api' ? 'API listening' : 'worker taking jobs';
    await waitFor(async () => proc.output.join('').includes(ready) || (child.exitCode !== null && Promise.reject(new Error(`${kind} exited: ${proc.output.join('')}`))), 90_000, `${kind} ready`);
    return proc;
  }

  // A process killed by a signal keeps exitCode null: look at both.
  const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;
  const apis = () => procs.filter((p) => p.kind === 'api' && alive(p));
  const workers = () => procs.filter((p) => p.kind === 'worker' && alive(p));

  async function upload(api: Proc, collection: string, timeoutMs = 30_000): Promise<{ id?: string; error?: string }> {
    const form = new FormData();
    form.append('operations', JSON.stringify({ query: 'mutation ($f: Upload!, $c: String) { uploadImage(file: $f, collection: $c, label: "x") { id } }', variables: { f: null, c: collection } }));
    form.append('map', JSON.stringify({ 0: ['variables.f'] }));
    form.append('0', new Blob([await distinctImage(seed++)]), 'a.png');
    try {
      const res = await fetch(`http://127.0.0.1:${api.port}/graphql`, { method: 'POST', headers: { 'apollo-require-preflight': 'true' }, body: form, signal: AbortSignal.timeout(timeoutMs) });
      const body = (await res.json()) as any;
      return body.data?.uploadImage ? { id: body.data.uploadImage.id } : { error: JSON.stringify(body).slice(0, 500) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  // Bounded, so that a stuck database fails the test instead of hanging it.
  const statuses = async (collection: string) =>
    (
      await Promise.race([
        pglite.query<{ id: string; status: string; error: string | null }>('SELECT id, status, error FROM images WHERE collection = $1', [collection]),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the test database did not answer in 20 s')), 20_000).unref()),
      ])
    ).rows;
  const allReady = async (collection: string, n: number, timeoutMs = 90_000) => {
    try {
      await waitFor(async () => {
        const rows = await statuses(collection);
        return rows.length === n && rows.every((r) => r.status === 'READY');
      }, timeoutMs, `${n} images of ${collection} READY`);
    } catch (error) {
      // Say where the images stand: stuck QUEUED/PROCESSING and FAILED (with why) need different fixes.
      const rows = await statuses(collection).catch(() => []);
      throw new Error(`${(error as Error).message}; they stand at ${JSON.stringify(rows.filter((r) => r.status !== 'READY'))} (${rows.length} rows)`);
    }
  };

  function collect(api: Proc, collection: string): string[] {
    const seen: string[] = [];
    const client = createClient({ url: `ws://127.0.0.1:${api.port}/graphql`, webSocketImpl: WebSocket, retryAttempts: 20, shouldRetry: () => !closing });
    clients.push(client);
    client.subscribe(
      { query: `subscription { classificationReady(collection: "${collection}") { image { id } } }` },
      { next: (v: any) => v.data && seen.push(v.data.classificationReady.image.id), error: () => {}, complete: () => {} },
    );
    return seen;
  }

  before(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-fleet-'));
    pglite = await PGlite.create({ extensions: { vector } });
    pgPort = await freePort();
    socket = await startPgliteWire(pglite, pgPort);
    redisPort = await freePort();
    redis = await startLocalRedis(path.join(dataDir, 'redis'), { persist: true, port: redisPort });
    // One process migrates first, as the compose/k8s one-shot job does; the rest find nothing to do.
    await spawnProc('api');
    await Promise.all([spawnProc('api'), spawnProc('worker'), spawnProc('worker'), spawnProc('worker')]);
  });

  after(async () => {
    // Clients retry through API restarts; once closing, a cut socket must not start another retry.
    closing = true;
    for (const c of clients) c.terminate();
    for (const p of procs) if (alive(p)) p.child.kill('SIGKILL');
    await redis?.stop();
    if (socket) await stopPgliteWire(socket);
    await pglite?.close();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  test('every upload is classified exactly once; subscribers on either API get every event', async () => {
    const [a, b] = apis();
    const seenA = collect(a, 'fleet');
    const seenB = collect(b, 'fleet');
    await new Promise((r) => setTimeout(r, 500));
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => upload(i % 2 ? b : a, 'fleet')));
    const ids = results.map((r) => r.id!);
    assert.ok(results.every((r) => r.id), JSON.stringify(results.filter((r) => r.error)));
    assert.equal(new Set(ids).size, 30, 'ids are unique');
    await allReady('fleet', 30);
    await waitFor(async () => seenA.length >= 30 && seenB.length >= 30, 30_000, 'events on both APIs');
    await new Promise((r) => setTimeout(r, 500));
    for (const seen of [seenA, seenB]) assert.deepEqual([...seen].sort(), [...ids].sort(), 'each image once, no duplicates');
    const [vectors] = (await pglite.query<{ n: number; d: number }>("SELECT count(*)::int AS n, count(DISTINCT image_id)::int AS d FROM image_embeddings e JOIN images i ON i.id = e.image_id WHERE i.collection = 'fleet'")).rows;
    assert.deepEqual(vectors, { n: 30, d: 30 }, 'one vector per image');
    assert.equal(workers().length, 3);
  });

  test('a worker killed with SIGKILL mid-batch: its jobs are taken up again and finish', async () => {
    const [a] = apis();
    const results = await Promise.all(Array.from({ length: 24 }, () => upload(a, 'kill')));
    assert.ok(results.every((r) => r.id));
    await waitFor(async () => (await statuses('kill')).some((r) => r.status === 'PROCESSING'), 30_000, 'work under way');
    const victim = workers()[0];
    const gone = new Promise((r) => victim.child.once('exit', r));
    victim.child.kill('SIGKILL');
    await Promise.race([gone, new Promise((_, reject) => setTimeout(() => reject(new Error('no exit event after SIGKILL')), 10_000).unref())]);
    await allReady('kill', 24);
    // A replacement, as the Deployment would start.
    await spawnProc('worker');
  });

  test('Redis restarted: API and workers reconnect; uploads in the outage fail cleanly or complete; none is lost, nor any event', async () => {
    const [a, b] = apis();
    const seenA = collect(a, 'redis');
    const seenB = collect(b, 'redis');
    await new Promise((r) => setTimeout(r, 500));
    const before = await Promise.all(Array.from({ length: 6 }, (_, i) => upload(i % 2 ? a : b, 'redis')));
    await redis.stop();
    const during = await Promise.all([upload(a, 'redis', 15_000), upload(b, 'redis', 15_000)]);
    redis = await startLocalRedis(path.join(dataDir, 'redis'), { persist: true, port: redisPort });
    const afterRestart = await waitFor(async () => {
      const r = await upload(a, 'redis');
      return r.id ? r : null;
    }, 30_000, 'uploads work again');
    const accepted = [...before, ...during, afterRestart].filter((r) => r.id);
    for (const r of during) if (!r.id) assert.match(r.error!, /./, 'a refused upload says why');
    await allReady('redis', accepted.length, 90_000);
    const rows = await statuses('redis');
    assert.equal(rows.length, accepted.length, 'a refused upload left no row');
    // Results saved while Redis was away reach collection subscribers too: read back after the gap.
    const ids = accepted.map((r) => r.id!).sort();
    await waitFor(async () => seenA.length >= ids.length && seenB.length >= ids.length, 30_000, `events on both APIs (${seenA.length}, ${seenB.length} of ${ids.length})`);
    await new Promise((r) => setTimeout(r, 500));
    for (const seen of [seenA, seenB]) assert.deepEqual([...seen].sort(), ids, 'each image once, none lost in the outage');
  });

  test('the database unavailable for 10 s: jobs retry with backoff and complete', async () => {
    const [a] = apis();
    // Held in the queue until the database is gone, so that every job meets the outage.
    const queue = new Queue(QueueName.Images, { connection: { host: '127.0.0.1', port: redisPort }, prefix: 'bull' });
    try {
      await queue.pause();
      const accepted = await Promise.all(Array.from({ length: 6 }, () => upload(a, 'db')));
      assert.ok(accepted.every((r) => r.id));
      await stopPgliteWire(socket);
      const during = await upload(a, 'db', 15_000);
      assert.ok(during.error, 'an upload with no database fails cleanly');
      await queue.resume();
      await new Promise((r) => setTimeout(r, 10_000));
      socket = await startPgliteWire(pglite, pgPort);
      await allReady('db', 6, 90_000);
      for (const r of accepted) {
        const job = await queue.getJob(embedJobId(r.id!));
        assert.ok(job && job.attemptsStarted >= 2, `job of ${r.id}: started ${job?.attemptsStarted} times, so it was not retried`);
      }
    } finally {
      await queue.resume().catch(() => {});
      await queue.close();
    }
  });

  /**
   * An upload whose body arrives in two halves: the request is in flight from the first half on.
   * `between` runs once the first half is sent.
   */
  async function uploadInTwoHalves(api: Proc, collection: string, between: () => void): Promise<{ status?: number; id?: string; error?: string }> {
    const { body, contentType } = graphqlMultipart(
      'mutation ($f: Upload!, $c: String) { uploadImage(file: $f, collection: $c) { id } }',
      { c: collection },
      { bytes: await distinctImage(seed++), name: 'a.png', contentType: 'image/png' },
    );
    const half = Math.floor(body.length / 2);
    return new Promise((resolve) => {
      const req = http.request(
        { host: '127.0.0.1', port: api.port, path: '/graphql', method: 'POST', headers: { 'content-type': contentType, 'content-length': body.length, 'apollo-require-preflight': 'true' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const id = (JSON.parse(text) as any).data?.uploadImage?.id as string | undefined;
            resolve(id ? { status: res.statusCode, id } : { status: res.statusCode, error: text.slice(0, 300) });
          });
        },
      );
      req.on('error', (e) => resolve({ error: e.message }));
      req.write(body.subarray(0, half), () => {
        between();
        setTimeout(() => req.end(body.subarray(half)), 500);
      });
    });
  }

  test('SIGTERM: a worker finishes its jobs and exits 0; an API drains and exits 0', async () => {
    const [a] = apis();
    const results = await Promise.all(Array.from({ length: 12 }, () => upload(a, 'term')));
    assert.ok(results.every((r) => r.id));
    await waitFor(async () => (await statuses('term')).some((r) => r.status === 'PROCESSING'), 30_000, 'work under way');
    const victims = [workers()[0], apis()[1]];
    // The API gets its SIGTERM with an upload half received: draining means that upload still lands.
    let inFlight!: Promise<{ status?: number; id?: string; error?: string }>;
    await new Promise<void>((sent) => (inFlight = uploadInTwoHalves(victims[1], 'term', sent)));
    const exits = await Promise.all(
      victims.map((p) => {
        const exited = new Promise<number | string | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
        p.child.kill('SIGTERM');
        return Promise.race([
          exited,
          new Promise<string>((r) =>
            // unref: a timer left pending would hold the test process open for its 30 s.
            setTimeout(() => r(`still running after 30 s: ${p.child.pid}`), 30_000).unref(),
          ),
        ]);
      }),
    );
    assert.deepEqual(exits, [0, 0], victims.map((p) => `${p.kind}: ${p.output.join('').slice(-3000)}`).join('\n---\n'));
    // The worker's exit came from its jobs being done, not from the shutdown's time running out.
    assert.doesNotMatch(victims[0].output.join(''), /shutdown timed out/);
    const drained = await inFlight;
    assert.ok(drained.id, `the upload in flight at SIGTERM: ${JSON.stringify(drained)}`);
    await allReady('term', 13);
  });

  // Kubernetes sends work to a pod once its readiness probe passes: that must wait for the model.
  test('a starting worker answers /healthz at once and /readyz only once its model is loaded and warm', async () => {
    const probePort = await freePort();
    const worker = await spawnProc('worker', { WORKER_HTTP_PORT: String(probePort) }, false);
    const seen: string[] = [];
    const status = (path: string) =>
      fetch(`http://127.0.0.1:${probePort}${path}`, { signal: AbortSignal.timeout(2000) }).then((r) => r.status, () => 0);
    await waitFor(async () => {
      const [health, ready] = [await status('/healthz'), await status('/readyz')];
      if (health !== 0) seen.push(`${health}/${ready}`);
      return ready === 200;
    }, 90_000, 'the new worker ready');
    assert.ok(seen.includes('200/503'), `alive before ready: ${[...new Set(seen)]}`);
    // Logged right after readiness is set, once the model was warm and the BullMQ worker ran.
    await waitFor(async () => worker.output.join('').includes('worker taking jobs'), 5000, 'the worker taking jobs');
  });
});
