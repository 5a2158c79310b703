import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '@lookalike/shared/config';
import { modelCacheDir } from './embedder.js';

test('weights and ONNX graphs are kept under DATA_DIR/models unless MODEL_CACHE_DIR says otherwise', () => {
  assert.equal(modelCacheDir(loadConfig({ DATA_DIR: '/srv/data' })), path.join('/srv/data', 'models'));
  assert.equal(modelCacheDir(loadConfig({ DATA_DIR: '/srv/data', MODEL_CACHE_DIR: '/cache/models' })), '/cache/models');
  assert.equal(modelCacheDir(loadConfig({ DATA_DIR: '/srv/data', MODEL_CACHE_DIR: 'rel/models' })), path.resolve('rel/models'));
});

test('jobs held at once: as configured, else two batches per model host', async () => {
  const { workerConcurrency } = await import('./app.js');
  assert.equal(workerConcurrency({ WORKER_CONCURRENCY: 5, EMBED_BATCH: 8 }, { parallelism: 2 }), 5);
  assert.equal(workerConcurrency({ WORKER_CONCURRENCY: undefined, EMBED_BATCH: 8 }, { parallelism: 2 }), 32);
  assert.equal(workerConcurrency({ WORKER_CONCURRENCY: undefined, EMBED_BATCH: 8 }, {}), 16);
  const config = loadConfig({});
  assert.equal(config.MODEL_HOSTS, 'auto');
  assert.equal(loadConfig({ MODEL_HOSTS: '3' }).MODEL_HOSTS, 3);
  assert.throws(() => loadConfig({ MODEL_HOSTS: '0' }), /MODEL_HOSTS/);
  assert.throws(() => loadConfig({ MODEL_HOSTS: 'many' }), /MODEL_HOSTS/);
});
