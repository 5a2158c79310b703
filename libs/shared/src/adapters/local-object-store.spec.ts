import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LocalObjectStore } from './local-object-store.js';

let root: string;
let store: LocalObjectStore;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-objects-'));
  store = new LocalObjectStore(root);
});
after(() => fs.rm(root, { recursive: true, force: true }));

test('put, get, exists, delete; a missing key is refused by get, ignored by delete', async () => {
  const bytes = Buffer.from([1, 2, 3, 255]);
  assert.equal(await store.exists('originals/ab/abc'), false);
  await store.put('originals/ab/abc', bytes);
  assert.equal(await store.exists('originals/ab/abc'), true);
  assert.deepEqual(await store.get('originals/ab/abc'), bytes);
  await store.delete('originals/ab/abc');
  await store.delete('originals/ab/abc');
  assert.equal(await store.exists('originals/ab/abc'), false);
  await assert.rejects(store.get('originals/ab/abc'), { code: 'ENOENT' });
});

test('a key may not leave the store', async () => {
  await assert.rejects(store.put('../outside', Buffer.from('x')), /escapes the store/);
  await assert.rejects(store.get('a/../../outside'), /escapes the store/);
});

test('a write that fails leaves no temporary file behind', async () => {
  // The key's place is taken by a folder with something in it: the final rename cannot succeed.
  await fs.mkdir(path.join(root, 'taken', 'key'), { recursive: true });
  await fs.writeFile(path.join(root, 'taken', 'key', 'inside'), 'x');
  await assert.rejects(store.put('taken/key', Buffer.alloc(1024)));
  assert.deepEqual(await fs.readdir(path.join(root, 'taken')), ['key']);
});
