// Observability end to end: Prometheus /metrics on the API and on the worker's http server, the
// x-request-id carried from an upload into its job and the worker's log lines, and Bull Board.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { startApi } from '@lookalike/api/app';
import { embedJobId } from '@lookalike/shared/queue/bullmq-job-queue';
import { QueueName } from '@lookalike/shared/queue/names';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { badImages, distinctImage } from './fixtures/images.js';
import { startTestService, type TestService, waitFor } from './helpers/service.js';

const UPLOAD = `mutation ($file: Upload!, $collection: String) { uploadImage(file: $file, collection: $collection) { id status } }`;
const SIMILAR = `query ($id: ID!) { similarImages(imageId: $id, k: 3) { distance } }`;
const CLASSIFY = `query ($image: Upload!) { classify(image: $image) { label } }`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

async function scrape(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200, `${url}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

/** A GraphQL multipart upload, as curl -F sends it, with extra headers; the response and its JSON. */
async function multipart(url: string, query: string, field: string, bytes: Buffer, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { ...variables, [field]: null } }));
  form.append('map', JSON.stringify({ 0: [`variables.${field}`] }));
  form.append('0', new Blob([bytes]), 'upload.png');
  const res = await fetch(`${url}/graphql`, { method: 'POST', headers: { 'apollo-require-preflight': 'true', ...headers }, body: form });
  return { res, body: (await res.json()) as { data?: any; errors?: any[] } };
}

/** A pino logger whose JSON lines land in `lines`. */
function capture(lines: Record<string, any>[]) {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      done();
    },
  });
  return pino({ level: 'debug' }, stream);
}

describe('observability', () => {
  let svc: TestService;
  let queue: Queue;
  const workerLines: Record<string, any>[] = [];

  before(async () => {
    svc = await startTestService({ WORKER_HTTP_PORT: '0', BULL_BOARD: 'true' });
    // The worker again, with a logger we can read (the helper's first worker logs nowhere).
    await svc.replaceWorker({}, undefined, { logger: capture(workerLines) });
    queue = new Queue(QueueName.Images, { connection: svc.infra.producerRedis, prefix: svc.config.QUEUE_PREFIX });
  });
  after(async () => {
    await queue?.close();
    await svc?.stop();
  });

  async function untilSettled(id: string) {
    return waitFor(async () => {
      const r = await svc.gql(`query ($id: ID!) { image(id: $id) { status error classification { label } } }`, { id });
      const image = r.data?.image;
      return image && (image.status === 'READY' || image.status === 'FAILED') ? image : null;
    }, 60_000, `image ${id} to settle`);
  }

  test('an upload: x-request-id echoed, kept in the job data, on the worker\'s job lines; metrics moved on both sides', async () => {
    const requestId = 'obs-upload-0001';
    const { res, body } = await multipart(svc.url, UPLOAD, 'file', await distinctImage(501), { collection: 'obs' }, { 'x-request-id': requestId });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.equal(res.headers.get('x-request-id'), requestId, 'echoed in the response header');
    const id = body.data.uploadImage.id as string;
    assert.equal((await untilSettled(id)).status, 'READY');

    const job = await queue.getJob(embedJobId(id));
    assert.ok(job, 'the completed job is still kept');
    assert.deepEqual(job.data, { v: 1, imageId: id, requestId }, 'the payload carries the request id beside its fields');

    const lines = workerLines.filter((l) => l.requestId === requestId);
    assert.ok(lines.some((l) => l.msg === 'job started'), JSON.stringify(workerLines.slice(-5)));
    const done = lines.find((l) => l.msg === 'job completed');
    assert.ok(done, 'the job\'s completion is logged with its requestId');
    assert.equal(done.jobId, embedJobId(id));
    assert.equal(done.job, 'embed-image');
    assert.equal(typeof done.durationMs, 'number');

    // Searches: one by stored image, one by upload (that one is an embed-query job in the worker).
    const similar = await svc.gql(SIMILAR, { id });
    assert.equal(similar.errors, undefined, JSON.stringify(similar.errors));
    const classified = await multipart(svc.url, CLASSIFY, 'image', await distinctImage(502));
    assert.equal(classified.body.errors, undefined, JSON.stringify(classified.body.errors));

    const worker = await scrape(svc.workerHttp!.url);
    assert.ok(metric(worker, 'lookalike_job_duration_seconds_count', { job: 'embed-image', outcome: 'completed' })! >= 1);
    assert.ok(metric(worker, 'lookalike_job_duration_seconds_count', { job: 'embed-query', outcome: 'completed' })! >= 1);
    assert.ok(metric(worker, 'lookalike_embed_batch_size_count')! >= 1, 'batch size observed');
    assert.ok(metric(worker, 'lookalike_embed_batch_size_sum')! >= 1);
    assert.ok(metric(worker, 'lookalike_embed_batch_duration_seconds_count')! >= 1);
    assert.ok(metric(worker, 'lookalike_embed_image_duration_seconds_count')! >= 2, 'the upload and the query image');
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed']) {
      assert.notEqual(metric(worker, 'lookalike_queue_depth', { queue: 'images', state }), undefined, `worker: queue depth ${state}`);
    }
    assert.ok(metric(worker, 'lookalike_queue_depth', { queue: 'images', state: 'completed' })! >= 1);
    assert.notEqual(metric(worker, 'process_cpu_user_seconds_total'), undefined, 'default process metrics');

    const api = await scrape(svc.url);
    assert.equal(metric(api, 'lookalike_search_duration_seconds_count', { query: 'similarImages', input: 'image_id', outcome: 'ok' }), 1);
    assert.equal(metric(api, 'lookalike_search_duration_seconds_count', { query: 'classify', input: 'upload', outcome: 'ok' }), 1);
    for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'completed']) {
      assert.notEqual(metric(api, 'lookalike_queue_depth', { queue: 'images', state }), undefined, `api: queue depth ${state}`);
    }
    assert.notEqual(metric(api, 'nodejs_heap_size_used_bytes'), undefined, 'default process metrics');
    assert.equal(metric(api, 'lookalike_job_duration_seconds_count'), undefined, 'the API runs no jobs: each process has its own registry');
  });

  test('jobs enqueued by a plain JSON request (reembed) carry its request id too', async () => {
    const requestId = 'obs-reembed-0004';
    const res = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': requestId },
      body: JSON.stringify({ query: 'mutation ($c: String!) { reembed(collection: $c) { id total } }', variables: { c: 'obs' } }),
    });
    const body = (await res.json()) as { data?: any; errors?: any[] };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    assert.ok(body.data.reembed.total >= 1);
    const line = await waitFor(
      async () => workerLines.find((l) => l.requestId === requestId && l.job === 'reembed-image' && l.msg === 'job completed'),
      30_000,
      'a reembed job line with the request id',
    );
    assert.match(line.jobId, new RegExp(`^reembed-${body.data.reembed.id}-`));
  });

  test('a job of an older API, without requestId, still runs; its lines have no requestId', async () => {
    const { body } = await multipart(svc.url, UPLOAD, 'file', await distinctImage(504), { collection: 'obs' });
    const id = body.data.uploadImage.id as string;
    await untilSettled(id);
    // The same image again, as an older API enqueued it: the bare v1 payload.
    await (await queue.getJob(embedJobId(id)))!.remove();
    await queue.add('embed-image', { v: 1, imageId: id }, { jobId: embedJobId(id), priority: 10 });
    const done = () => workerLines.filter((l) => l.jobId === embedJobId(id) && l.msg === 'job completed');
    await waitFor(async () => done().length === 2, 30_000, 'the old job to complete');
    assert.match(done()[0].requestId, UUID, 'the upload\'s job had the generated id');
    assert.equal('requestId' in done()[1], false, 'the old job\'s line has none');
    assert.equal((await untilSettled(id)).status, 'READY');
  });

  test('a request without x-request-id (or with an unusable one) gets a new UUID', async () => {
    const plain = await fetch(`${svc.url}/healthz`);
    assert.match(plain.headers.get('x-request-id') ?? '', UUID);
    const bad = await fetch(`${svc.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'two words' },
      body: JSON.stringify({ query: '{ model { id } }' }),
    });
    assert.match(bad.headers.get('x-request-id') ?? '', UUID);
  });

  test('failures are counted by reason: a corrupt original fails its job (decode), a corrupt upload is refused (decode)', async () => {
    const before = metric(await scrape(svc.workerHttp!.url), 'lookalike_job_failures_total', { job: 'embed-image', reason: 'decode', final: 'true' }) ?? 0;
    // The store already holds corrupt bytes under the picture's content address, so the upload
    // keeps them and the worker reads a damaged original (bit rot, a bad store).
    const bytes = await distinctImage(503);
    const sha = createHash('sha256').update(bytes).digest('hex');
    await svc.infra.objects.put(`originals/${sha.slice(0, 2)}/${sha}`, Buffer.from('corrupt'), 'image/png');
    const requestId = 'obs-corrupt-0002';
    const { body } = await multipart(svc.url, UPLOAD, 'file', bytes, { collection: 'obs' }, { 'x-request-id': requestId });
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const id = body.data.uploadImage.id as string;
    assert.equal((await untilSettled(id)).status, 'FAILED');

    const worker = await scrape(svc.workerHttp!.url);
    assert.equal(metric(worker, 'lookalike_job_failures_total', { job: 'embed-image', reason: 'decode', final: 'true' }), before + 1);
    assert.ok(metric(worker, 'lookalike_job_duration_seconds_count', { job: 'embed-image', outcome: 'failed' })! >= 1);
    assert.equal(metric(worker, 'lookalike_job_failures_total', { job: 'embed-image', reason: 'other' }), undefined, 'no failure without a reason');
    assert.ok(
      workerLines.some((l) => l.requestId === requestId && l.msg === 'job failed' && l.jobId === embedJobId(id)),
      'the failure is logged with the upload\'s requestId',
    );

    const refused = await multipart(svc.url, UPLOAD, 'file', (await badImages())['jpeg-truncated'].bytes, { collection: 'obs' });
    assert.equal(refused.body.errors?.[0]?.extensions?.code, 'BAD_USER_INPUT');
    const api = await scrape(svc.url);
    assert.equal(metric(api, 'lookalike_request_failures_total', { operation: 'uploadImage', reason: 'decode' }), 1);
  });

  test('Bull Board answers at its path when enabled; 404 when disabled, as /metrics with METRICS=false', async () => {
    const page = await fetch(`${svc.url}/admin/queues`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const queues = await fetch(`${svc.url}/admin/queues/api/queues`);
    assert.equal(queues.status, 200);
    const listed = (await queues.json()) as { queues: { name: string }[] };
    assert.ok(listed.queues.some((q) => q.name === QueueName.Images), JSON.stringify(listed).slice(0, 300));

    // A second API on the same stores, dashboard off (the default) and metrics off; its log is read.
    const lines: Record<string, any>[] = [];
    const off = await startApi({ ...svc.config, BULL_BOARD: false, METRICS: false }, svc.infra, { log: capture(lines) });
    const moved = await startApi({ ...svc.config, BULL_BOARD_PATH: '/ops/jobs' }, svc.infra);
    try {
      assert.equal((await fetch(`${off.url}/admin/queues`)).status, 404);
      assert.equal((await fetch(`${off.url}/admin/queues/api/queues`)).status, 404);
      assert.equal((await fetch(`${off.url}/metrics`)).status, 404);
      assert.equal((await fetch(`${moved.url}/admin/queues`)).status, 404);
      assert.equal((await fetch(`${moved.url}/ops/jobs`)).status, 200);

      // Its request lines carry the requestId and the GraphQL operation.
      const res = await fetch(`${off.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'obs-log-0003' },
        body: JSON.stringify({ query: 'query Model { model { id } }', operationName: 'Model' }),
      });
      assert.equal(res.headers.get('x-request-id'), 'obs-log-0003');
      await res.text();
      const line = await waitFor(async () => lines.find((l) => l.requestId === 'obs-log-0003'), 5000, 'the request line');
      assert.equal(line.msg, 'request');
      assert.equal(line.status, 200);
      assert.equal(line.operation, 'Model');
      assert.equal(line.path, '/graphql');
    } finally {
      await off.close();
      await moved.close();
    }
  });
});
