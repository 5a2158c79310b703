import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseLabelFrom, readDataset } from './dataset.js';

let dir: string;
const write = async (rel: string, data: string | Buffer = 'x') => {
  await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
  await fs.writeFile(path.join(dir, rel), data);
};

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-dataset-'));
});
after(() => fs.rm(dir, { recursive: true, force: true }));

test('a folder per label: the first subfolder is the label; other files and hidden ones are left out', async () => {
  await write('f/bolt/a.jpg');
  await write('f/bolt/deeper/b.PNG');
  await write('f/nut/c.webp');
  await write('f/nut/.hidden.jpg');
  await write('f/.cache/d.jpg');
  await write('f/loose.png');
  await write('f/notes.txt');
  await write('f/meta.json', '{"not": "an annotation"}');
  const d = await readDataset(path.join(dir, 'f'));
  assert.equal(d.kind, 'folders');
  assert.deepEqual(
    d.items.map((i) => [i.name, i.label, i.metadata]),
    [
      ['bolt/a.jpg', 'bolt', null],
      ['bolt/deeper/b.PNG', 'bolt', null],
      ['loose.png', null, null],
      ['nut/c.webp', 'nut', null],
    ],
  );
  assert.ok(d.items.every((i) => path.isAbsolute(i.file)));
  assert.deepEqual(d.problems, []);
});

test('a CSV manifest: paths relative to it, metadata columns, missing files as problems', async () => {
  await write('c/img/1.jpg');
  await write('c/img/2.jpg');
  await write('c/img/3.jpg');
  await write('c/list.csv', '\ufeffpath,label,part,line\nimg/1.jpg,ok,bolt,3\n"img/2.jpg",defect,"nut, M8",\nimg/3.jpg,,bolt,1\nimg/4.jpg,ok,nut,2\n');
  const d = await readDataset(path.join(dir, 'c/list.csv'));
  assert.equal(d.kind, 'csv');
  assert.deepEqual(
    d.items.map((i) => [i.name, i.label, i.metadata]),
    [
      ['img/1.jpg', 'ok', { part: 'bolt', line: '3' }],
      ['img/2.jpg', 'defect', { part: 'nut, M8' }],
      ['img/3.jpg', null, { part: 'bolt', line: '1' }],
    ],
  );
  assert.deepEqual(d.problems, [{ name: 'img/4.jpg', reason: 'file not found (list.csv line 5)' }]);

  // Without a header: path,label and unnamed extra columns.
  await write('c/bare.csv', 'img/1.jpg,ok,x\n');
  const bare = await readDataset(path.join(dir, 'c/bare.csv'));
  assert.deepEqual(bare.items.map((i) => [i.label, i.metadata]), [['ok', { column3: 'x' }]]);

  // The label from another column, or from the folder.
  const byPart = await readDataset(path.join(dir, 'c/list.csv'), parseLabelFrom('column:part'));
  assert.deepEqual(byPart.items.map((i) => [i.label, i.metadata]).slice(0, 1), [['bolt', { label: 'ok', line: '3' }]]);
  const byFolder = await readDataset(path.join(dir, 'c/list.csv'), parseLabelFrom('folder'));
  assert.deepEqual(byFolder.items.map((i) => i.label), ['img', 'img', 'img']);
  await assert.rejects(readDataset(path.join(dir, 'c/list.csv'), parseLabelFrom('column:nope')), /no column "nope"/);
});

test('AI Hub annotation JSON: label from an attribute, the rest as metadata; pictures found under the root', async () => {
  await write('a/images/bolt/IMG_1.jpg');
  await write('a/images/nut/IMG_2.jpg');
  await write('a/labels/IMG_1.json', JSON.stringify({ images: [{ id: 7, file_name: 'IMG_1.jpg' }], annotations: [{ image_id: 7, attributes: { part: 'bolt', quality: 'good', size: 8 } }] }));
  // One file for several images, images as one object in another.
  await write(
    'a/labels/batch.json',
    JSON.stringify({
      images: [
        { id: 1, file_name: 'IMG_2.jpg' },
        { id: 2, file_name: 'IMG_404.jpg' },
      ],
      annotations: [
        { image_id: 1, category_id: 3, attributes: { part: 'nut', quality: 'defect' } },
        { image_id: 2, attributes: { part: 'nut', quality: 'good' } },
      ],
      categories: [{ id: 3, name: 'fastener' }],
    }),
  );
  const d = await readDataset(path.join(dir, 'a'), parseLabelFrom('annotation:quality'));
  assert.equal(d.kind, 'annotations');
  assert.deepEqual(
    d.items.map((i) => [i.name, i.label, i.metadata]).sort(),
    [
      ['images/bolt/IMG_1.jpg', 'good', { part: 'bolt', size: 8 }],
      ['images/nut/IMG_2.jpg', 'defect', { category: 'fastener', part: 'nut' }],
    ],
  );
  assert.deepEqual(d.problems, [{ name: 'IMG_404.jpg', reason: 'file not found (labels/batch.json)' }]);

  // By folder: the picture's folder is the label, every attribute is metadata.
  const byFolder = await readDataset(path.join(dir, 'a'), parseLabelFrom('folder'));
  assert.deepEqual(byFolder.items.map((i) => [i.label, i.metadata?.quality]).sort(), [['bolt', 'good'], ['nut', 'defect']]);

  // One annotation file as the source, its picture in a sibling folder.
  const one = await readDataset(path.join(dir, 'a/labels/IMG_1.json'), parseLabelFrom('annotation:part'));
  assert.deepEqual(one.items.map((i) => [i.name, i.label, i.metadata]), [['images/bolt/IMG_1.jpg', 'bolt', { quality: 'good', size: 8 }]]);
  assert.deepEqual(one.problems, []);
});

test('bad sources and options are refused with a message', async () => {
  await assert.rejects(readDataset(path.join(dir, 'nope')), /no such file or folder/);
  await write('x.txt');
  await assert.rejects(readDataset(path.join(dir, 'x.txt')), /give a folder, a \.csv manifest or an annotation \.json/);
  await write('plain/bolt/a.jpg');
  await assert.rejects(readDataset(path.join(dir, 'plain'), parseLabelFrom('annotation:quality')), /needs annotation JSON files/);
  await assert.rejects(readDataset(path.join(dir, 'plain'), parseLabelFrom('column:label')), /applies to a CSV manifest/);
  assert.throws(() => parseLabelFrom('annotations'), /--label-from must be/);
  assert.deepEqual(parseLabelFrom('annotation:quality'), { from: 'annotation', attribute: 'quality' });
});
