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
