import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fetchVerified, KERAS_DENSENET121_NOTOP, md5Hex, offlineInstructions, WeightsSourceError } from './weights-source.js';

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
