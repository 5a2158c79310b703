import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from './config.js';
import { openDatabase } from './infrastructure.js';

test('the embedded PGlite under DATA_DIR gets PGLITE_SHARED_BUFFERS as a start flag, and its files keep none of it', async () => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-pglite-buffers-'));
  const logged: string[] = [];
  const shown = async (env: Record<string, string>) => {
    const db = await openDatabase(loadConfig({ DATA_DIR: dataDir, ...env }), undefined, (m) => logged.push(m));
    try {
      const [row] = await db.query<{ shared_buffers: string }>('SHOW shared_buffers');
      return row.shared_buffers;
    } finally {
      await db.close();
    }
  };
  try {
    assert.equal(await shown({ PGLITE_SHARED_BUFFERS: '160MB' }), '160MB');
    // Opened again with the default, auto, and indexes that fit: PGlite's 128MB, so
    // postgresql.conf was not rewritten, and auto had nothing to grow or say.
    assert.equal(await shown({}), '128MB');
    assert.deepEqual(logged, []);
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
});
