import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetchVerified, KERAS_DENSENET121_NOTOP, md5Hex, offlineInstructions, resolveWeightsFile, WeightsSourceError } from './weights-source.js';

describe('fetchVerified', () => {
  const payload = Buffer.from('pretend weights '.repeat(1000));
  let server: http.Server;
  let base: string;
  let dir: string;
  let hits = 0;

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weights-'));
    server = http.createServer((req, res) => {
      hits++;
      if (req.url === '/whole.h5') res.end(payload);
      else if (req.url === '/truncated.h5') {
        // Announce the whole length, send half, then drop the connection.
        res.writeHead(200, { 'content-length': String(payload.length) });
        res.write(payload.subarray(0, payload.length / 2));
        setTimeout(() => res.destroy(), 20);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(async () => {
    server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const expected = (name: string, extra: Partial<{ md5: string; sizeBytes: number }> = {}) => ({
    fileName: name,
    url: `${base}/${name}`,
    md5: md5Hex(payload),
    sizeBytes: payload.length,
    ...extra,
  });

  test('downloads, checks md5 and size, caches, and reuses the cached file', async () => {
    const file = await fetchVerified(expected('whole.h5'), dir);
    assert.deepEqual(await fs.readFile(file), payload);
    const before = hits;
    assert.equal(await fetchVerified(expected('whole.h5'), dir), file);
    assert.equal(hits, before, 'second call served from the cache');
  });

  test('a truncated download is refused and nothing is kept', async () => {
    await assert.rejects(fetchVerified(expected('truncated.h5'), dir), WeightsSourceError);
    assert.deepEqual((await fs.readdir(dir)).filter((f) => f.startsWith('truncated')), []);
  });

  test('a wrong hash is refused and nothing is kept', async () => {
    await assert.rejects(
      fetchVerified({ ...expected('whole.h5'), fileName: 'other.h5', md5: '0'.repeat(32) }, dir),
      /md5 .* expected 0{32}/,
    );
    assert.equal(await fs.access(path.join(dir, 'other.h5')).then(() => true, () => false), false);
  });

  test('a 404 and an unreachable host give clear errors', async () => {
    await assert.rejects(fetchVerified({ ...expected('missing.h5'), url: `${base}/missing.h5` }, dir), /HTTP 404/);
    await assert.rejects(fetchVerified({ ...expected('x.h5'), url: 'http://127.0.0.1:1/x.h5' }, dir), /Could not download/);
  });

  test('the Keras file is pinned as Keras pins it, and the offline hint names where to put it', () => {
    assert.equal(KERAS_DENSENET121_NOTOP.md5, '30ee3e1110167f948a6b9946edeeb738');
    assert.match(offlineInstructions(KERAS_DENSENET121_NOTOP, '/data/models'), /\/data\/models\/densenet121_weights_tf_dim_ordering_tf_kernels_notop\.h5/);
  });
});

describe('resolveWeightsFile (MODEL_WEIGHTS)', () => {
  const offline = (async () => {
    throw new TypeError('fetch failed');
  }) as unknown as typeof fetch;

  test('`random`, and no setting for a model other than DenseNet121, mean seeded random weights, quietly', async () => {
    assert.deepEqual(await resolveWeightsFile({ spec: 'random', preset: 'densenet121', cacheDir: '/nonexistent' }), {});
    assert.deepEqual(await resolveWeightsFile({ preset: 'tiny', cacheDir: '/nonexistent' }), {});
  });

  test('unset and offline for DenseNet121: random weights with a loud warning saying how to fix it', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weights-'));
    const r = await resolveWeightsFile({ preset: 'densenet121', cacheDir: dir, fetchImpl: offline });
    assert.equal(r.file, undefined);
    assert.match(r.warning!, /RANDOM weights/);
    assert.match(r.warning!, new RegExp(KERAS_DENSENET121_NOTOP.fileName));
  });

  test('unset with the official file already cached: no download, the cached file', async () => {
    // A cached file is only used when its md5 is Keras' own; a wrong one is not trusted.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weights-'));
    await fs.writeFile(path.join(dir, KERAS_DENSENET121_NOTOP.fileName), 'not the real file');
    const r = await resolveWeightsFile({ preset: 'densenet121', cacheDir: dir, fetchImpl: offline });
    assert.equal(r.file, undefined);
    assert.match(r.warning!, /Could not download/);
  });

  test('a path that does not exist is a start-up error; one that exists is used', async () => {
    await assert.rejects(resolveWeightsFile({ spec: '/no/such/weights.h5', preset: 'densenet121', cacheDir: '/x' }), /does not exist/);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weights-'));
    const file = path.join(dir, 'w.h5');
    await fs.writeFile(file, 'x');
    assert.deepEqual(await resolveWeightsFile({ spec: file, preset: 'densenet121', cacheDir: dir }), { file });
  });

  test('an http(s) URL is downloaded once into the cache', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weights-'));
    let calls = 0;
    const fake = (async () => {
      calls++;
      return new Response('weights bytes');
    }) as unknown as typeof fetch;
    const a = await resolveWeightsFile({ spec: 'https://example.invalid/m/w.h5', preset: 'densenet121', cacheDir: dir, fetchImpl: fake });
    const b = await resolveWeightsFile({ spec: 'https://example.invalid/m/w.h5', preset: 'densenet121', cacheDir: dir, fetchImpl: fake });
    assert.equal(a.file, b.file);
    assert.equal(calls, 1);
    assert.equal(await fs.readFile(a.file!, 'utf8'), 'weights bytes');
  });
});
