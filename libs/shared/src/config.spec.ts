import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

test('defaults give the embedded service on port 4000', () => {
  const c = loadConfig({});
  assert.equal(c.PORT, 4000);
  assert.equal(c.DATABASE_URL, undefined);
  assert.equal(c.REDIS_URL, undefined);
  assert.equal(c.S3_ENDPOINT, undefined);
  assert.equal(c.MAX_UPLOAD_BYTES, 20 * 1024 * 1024);
  assert.equal(c.MAX_IMAGE_PIXELS, 50_000_000);
  assert.equal(c.KNN_K, 5);
  assert.equal(c.dataDir, path.resolve('.data'));
  assert.equal(c.publicUrl, 'http://localhost:4000');
});

test('production wiring is read and typed; empty strings count as unset', () => {
  const c = loadConfig({
    DATABASE_URL: 'postgres://u:p@db:5432/lookalike',
    REDIS_URL: 'redis://redis:6379',
    S3_ENDPOINT: 'http://minio:9000',
    S3_ACCESS_KEY: 'a',
    S3_SECRET_KEY: 'b',
    PORT: '8080',
    ALLOW_APT_INSTALL: 'false',
    PUBLIC_URL: '',
  });
  assert.equal(c.PORT, 8080);
  assert.equal(c.ALLOW_APT_INSTALL, false);
  assert.equal(c.publicUrl, 'http://localhost:8080');
  assert.equal(c.DATABASE_URL, 'postgres://u:p@db:5432/lookalike');
});

test('every problem is named in one clear error', () => {
  assert.throws(
    () => loadConfig({ PORT: 'eighty', KNN_K: '0', DATABASE_URL: 'not a url' }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      for (const name of ['PORT', 'KNN_K', 'DATABASE_URL']) assert.match(e.message, new RegExp(name));
      return true;
    },
  );
  assert.throws(() => loadConfig({ S3_ENDPOINT: 'http://minio:9000' }), /S3_ACCESS_KEY and S3_SECRET_KEY are required/);
});

test('observability: /metrics on, Bull Board off at /admin/queues by default; a board path must be a path of its own', () => {
  const c = loadConfig({});
  assert.equal(c.METRICS, true);
  assert.equal(c.BULL_BOARD, false);
  assert.equal(c.BULL_BOARD_PATH, '/admin/queues');
  const on = loadConfig({ BULL_BOARD: 'true', BULL_BOARD_PATH: '/ops/jobs', METRICS: 'false' });
  assert.equal(on.BULL_BOARD, true);
  assert.equal(on.BULL_BOARD_PATH, '/ops/jobs');
  assert.equal(on.METRICS, false);
  for (const bad of ['admin', '/admin/', '/graphql', '/metrics/x', '/with space']) {
    assert.throws(() => loadConfig({ BULL_BOARD_PATH: bad }), /BULL_BOARD_PATH/, bad);
  }
});

test("PGLITE_SHARED_BUFFERS: auto unless set; auto or a size with its unit, within PGlite's memory, or a clear error", () => {
  assert.equal(loadConfig({}).PGLITE_SHARED_BUFFERS, 'auto');
  assert.equal(loadConfig({ PGLITE_SHARED_BUFFERS: 'auto' }).PGLITE_SHARED_BUFFERS, 'auto');
  assert.equal(loadConfig({ PGLITE_SHARED_BUFFERS: '1GB' }).PGLITE_SHARED_BUFFERS, '1GB');
  for (const bad of ['1024', '1 GB', '1gb', '0MB', '1GB; DROP TABLE images', 'Auto', 'auto1GB']) {
    assert.throws(
      () => loadConfig({ PGLITE_SHARED_BUFFERS: bad }),
      (e: Error) => /PGLITE_SHARED_BUFFERS: must be auto or a size such as 128MB or 1GB/.test(e.message) && !/at most/.test(e.message),
      bad,
    );
  }
  // PGlite's 2 GiB: 2GB does not start (measured), so the most is 1536MB.
  assert.equal(loadConfig({ PGLITE_SHARED_BUFFERS: '1536MB' }).PGLITE_SHARED_BUFFERS, '1536MB');
  for (const big of ['1537MB', '2GB', '3000000kB']) {
    assert.throws(() => loadConfig({ PGLITE_SHARED_BUFFERS: big }), /PGLITE_SHARED_BUFFERS: at most 1536MB: PGlite has 2 GiB of memory in all/, big);
  }
});
