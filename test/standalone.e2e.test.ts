// `npm start` as a user runs it: a real process on the embedded default (PGlite and originals under
// DATA_DIR, its own redis-server). A restart keeps every image, vector and classification.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { freePort } from '@lookalike/shared/local-redis';
import { distinctImage } from './fixtures/images.js';
import { waitFor } from './helpers/service.js';

const root = path.resolve(import.meta.dirname, '..');
let dataDir: string;
let child: ChildProcess | null = null;

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
});

async function start(port: number): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/standalone.ts'], {
    cwd: root,
    env: { ...process.env, MODEL: 'tiny', PORT: String(port), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn', REDIS_URL: '' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null))?.status === 200, 60_000, 'healthz 200');
  return proc;
}

async function stop(proc: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  return exited;
}

async function gql(port: number, query: string) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
  return (await res.json()) as { data?: any; errors?: any[] };
}

test('npm start serves, stops cleanly on SIGTERM, and a restart keeps images, vectors and results', async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-standalone-'));
  const port = await freePort();
  child = await start(port);
  const ids: string[] = [];
  for (const seed of [1, 2, 3]) {
    const form = new FormData();
    form.append('operations', JSON.stringify({ query: 'mutation ($f: Upload!, $l: String) { uploadImage(file: $f, label: $l) { id } }', variables: { f: null, l: `l${seed}` } }));
    form.append('map', JSON.stringify({ 0: ['variables.f'] }));
    form.append('0', new Blob([await distinctImage(seed)]), 'a.png');
    const res = (await (await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'apollo-require-preflight': 'true' }, body: form })).json()) as any;
    assert.equal(res.errors, undefined, JSON.stringify(res.errors));
    ids.push(res.data.uploadImage.id);
  }
  const allReady = async () => {
    const r = await gql(port, '{ images { nodes { status classification { model } } } }');
    return r.data?.images.nodes.length === 3 && r.data.images.nodes.every((n: any) => n.status === 'READY') ? r : null;
  };
  await waitFor(allReady, 30_000, 'three READY images');
  assert.equal(await stop(child), 0);

  child = await start(port);
  const again = await allReady();
  assert.ok(again, 'images survive a restart');
  const similar = await gql(port, `{ similarImages(imageId: "${ids[0]}", k: 2) { image { id } } }`);
  assert.equal(similar.errors, undefined, JSON.stringify(similar.errors));
  assert.deepEqual(new Set(similar.data.similarImages.map((n: any) => n.image.id)), new Set(ids.slice(1)));
  assert.equal(await stop(child), 0);
});
