/**
 * The api and worker images, built from their Dockerfiles and run the way docker-compose.yml runs
 * them, without a Docker engine (see helpers/docker-rehearsal.ts for how, and what it cannot
 * show). The services compose would start beside them are stood in for on 127.0.0.1: PGlite
 * served over the wire for Postgres + pgvector, a redis-server, s3rver for MinIO. Each
 * container's environment is its compose service's, with only the host names (and s3rver's fixed
 * keys) changed, so this also checks compose's wiring of the images. `npm run docker:rehearse`
 * runs it alone and prints each build step (REHEARSAL_LOG=1).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { freePort, type LocalRedis, startLocalRedis } from '@lookalike/shared/local-redis';
import S3rver from 's3rver';
import { distinctImage } from './fixtures/images.js';
import { interpolate, readCompose } from './helpers/compose.js';
import { type Container, type Image, Rehearsal, unavailableReason } from './helpers/docker-rehearsal.js';
import { graphqlMultipart } from './helpers/multipart.js';
import { startPgliteWire, stopPgliteWire } from './helpers/pglite-wire.js';
import { waitFor } from './helpers/service.js';

const root = path.resolve(import.meta.dirname, '..');
const compose = readCompose(path.join(root, 'docker-compose.yml'));
const APP_UID = 10001;

describe('the api and worker images, built from docker/*.Dockerfile and run as docker-compose.yml runs them', { skip: unavailableReason() ?? false }, () => {
  let dir: string;
  let pglite: PGlite;
  let socket: PGLiteSocketServer;
  let redis: LocalRedis;
  let s3: S3rver;
  let ports: { pg: number; redis: number; s3: number; api: number; worker: number };
  let rehearsal: Rehearsal;
  let apiImage: Image;
  let workerImage: Image;
  let api: Container;
  let worker: Container;

  /**
   * A compose service's environment as `docker compose up` would give it, with the shell setting
   * MODEL_WEIGHTS=random (no internet here for the official weights) and MODEL_HOSTS=1, and the
   * service names that only resolve on compose's network pointed at the stand-ins.
   */
  function serviceEnv(service: string, extra: Record<string, string> = {}): Record<string, string> {
    const shell = { MODEL_WEIGHTS: 'random', MODEL_HOSTS: '1' };
    const env = Object.fromEntries(
      Object.entries(compose.services[service].environment as Record<string, unknown>).map(([k, v]) => [
        k,
        interpolate(String(v), shell)
          .replace(/@postgres:5432\//, `@127.0.0.1:${ports.pg}/`)
          .replace('redis://redis:6379', `redis://127.0.0.1:${ports.redis}`)
          .replace('http://minio:9000', `http://127.0.0.1:${ports.s3}`),
      ]),
    );
    // s3rver signs with its own fixed keys; MinIO takes compose's.
    return { ...env, S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'S3RVER', ...extra };
  }

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-images-'));
    ports = { pg: await freePort(), redis: await freePort(), s3: await freePort(), api: await freePort(), worker: await freePort() };
    pglite = await PGlite.create({ extensions: { vector } });
    socket = await startPgliteWire(pglite, ports.pg);
    redis = await startLocalRedis(path.join(dir, 'redis'), { port: ports.redis });
    s3 = new S3rver({ port: ports.s3, address: '127.0.0.1', directory: path.join(dir, 's3'), silent: true });
    await s3.run();
    rehearsal = await Rehearsal.open((line) => process.env.REHEARSAL_LOG && console.log(line));
  });

  after(async () => {
    await rehearsal?.close();
    await s3?.close();
    await redis?.stop();
    if (socket) await stopPgliteWire(socket);
    await pglite?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('docker/api.Dockerfile builds (its import check included) and leaves the model runtimes out', async () => {
    apiImage = await rehearsal.build(path.join(root, 'docker/api.Dockerfile'), { context: root });
    assert.deepEqual(apiImage.cmd, ['node', '--import', 'tsx', 'apps/api/src/main.ts']);
    assert.equal(apiImage.user, 'app:app');
    assert.equal(await rehearsal.listInImage(apiImage, '/app/node_modules/onnxruntime-node'), null);
    assert.equal(await rehearsal.listInImage(apiImage, '/app/node_modules/@tensorflow'), null);
    assert.ok(await rehearsal.listInImage(apiImage, '/app/node_modules/tsx'), 'tsx, which runs the code, is in the image');
    assert.equal(await rehearsal.listInImage(apiImage, '/app/test'), null, '.dockerignore keeps the tests out');
  });

  test('docker/worker.Dockerfile builds, keeping only Linux of onnxruntime-node\'s binaries', async () => {
    workerImage = await rehearsal.build(path.join(root, 'docker/worker.Dockerfile'), { context: root });
    assert.deepEqual(await rehearsal.listInImage(workerImage, '/app/node_modules/onnxruntime-node/bin/napi-v6'), ['linux']);
    assert.ok(await rehearsal.listInImage(workerImage, '/app/node_modules/sharp'), 'sharp decodes the uploads');
  });

  test('docker/worker-gpu.Dockerfile: its node stage shared by both CUDA flavours builds (the CUDA stages need their Ubuntu bases and downloads)', async () => {
    const deps = await rehearsal.build(path.join(root, 'docker/worker-gpu.Dockerfile'), { context: root, target: 'deps' });
    assert.deepEqual(await rehearsal.listInImage(deps, '/app/node_modules/onnxruntime-node/bin/napi-v6'), ['linux']);
    assert.ok((await rehearsal.listInImage(deps, '/app/node_modules/tsx'))?.includes('package.json'));
  });

  test("compose's one-shot migrate service (the api image) migrates the database and exits 0", async () => {
    const migrate = await rehearsal.start(apiImage, 'migrate', { env: serviceEnv('migrate'), command: compose.services.migrate.command as string[] });
    const { code } = await migrate.exited;
    assert.equal(code, 0, migrate.output.join(''));
    const applied = await pglite.query<{ n: number }>('SELECT count(*)::int AS n FROM schema_migrations');
    const files = (await fs.readdir(path.join(root, 'libs/shared/src/db/migrations'))).filter((f) => f.endsWith('.sql'));
    assert.equal(applied.rows[0].n, files.length);
  });

  test('the worker and the api run as the non-root user and pass their own HEALTHCHECKs', async () => {
    worker = await rehearsal.start(workerImage, 'worker', { env: serviceEnv('worker', { WORKER_HTTP_PORT: String(ports.worker) }) });
    await worker.healthy(240_000);
    api = await rehearsal.start(apiImage, 'api', { env: serviceEnv('api', { PORT: String(ports.api), HOST: '127.0.0.1' }) });
    await api.healthy(120_000);
    assert.equal(worker.uid(), APP_UID);
    assert.equal(api.uid(), APP_UID);
    assert.match(worker.output.join(''), /densenet121:random-seed-1/, 'the worker says which weights it runs');
  });

  test('an upload to the api container is stored in S3, embedded and classified by the worker container', async () => {
    const upload = async (bytes: Buffer, label: string | null) => {
      const { body, contentType } = graphqlMultipart(
        'mutation ($f: Upload!, $label: String) { uploadImage(file: $f, collection: "images", label: $label) { id status } }',
        { label },
        { bytes, name: 'picture.png', contentType: 'image/png' },
      );
      const reply = await post('/graphql', body, { 'content-type': contentType, 'apollo-require-preflight': 'true' });
      assert.equal(reply.errors, undefined, JSON.stringify(reply.errors));
      return (reply.data as { uploadImage: { id: string } }).uploadImage.id;
    };
    const labelled = [await upload(await distinctImage(1), 'circle'), await upload(await distinctImage(2), 'circle')];
    const query = await upload(await distinctImage(3), null);
    const read = async (id: string) => {
      const reply = await post('/graphql', Buffer.from(JSON.stringify({ query: `{ image(id: "${id}") { status error classification { label } } }`, variables: {} })), { 'content-type': 'application/json' });
      return (reply.data as { image: { status: string; error: string | null; classification: { label: string | null } | null } }).image;
    };
    for (const id of [...labelled, query]) {
      const image = await waitFor(async () => {
        const seen = await read(id);
        return seen.status === 'READY' || seen.status === 'FAILED' ? seen : null;
      }, 60_000, `image ${id}`);
      assert.equal(image.status, 'READY', image.error ?? '');
    }
    assert.equal((await read(query)).classification?.label, 'circle');
    const objects = await fs.readdir(path.join(dir, 's3'), { recursive: true });
    assert.ok(objects.some((f) => f.endsWith('._S3rver_object')), 'the originals are in the bucket');
  });

  test("SIGTERM: both exit 0 within compose's stop_grace_period", async () => {
    for (const [container, service] of [[api, 'api'], [worker, 'worker']] as const) {
      const graceS = Number(String(compose.services[service].stop_grace_period).replace(/s$/, ''));
      container.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), graceS * 1000)));
      const exit = await Promise.race([container.exited, late]).finally(() => clearTimeout(timer));
      assert.deepEqual(exit, { code: 0, signal: null }, `${service}: ${container.output.join('').slice(-2000)}`);
    }
  });

  function post(pathname: string, body: Buffer, headers: Record<string, string>): Promise<{ data?: unknown; errors?: unknown }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: ports.api, path: pathname, method: 'POST', headers: { ...headers, 'content-length': body.length } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString())));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
});
