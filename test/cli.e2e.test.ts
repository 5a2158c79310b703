/**
 * The `lookalike` CLI as a user runs it: a real child process (`node apps/cli/bin/lookalike.mjs`)
 * talking GraphQL to the whole service running in this process, on datasets built here in a
 * temporary folder (one folder per label, a CSV manifest, AI Hub style annotation JSON).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { tile } from '../apps/cli/src/render/canvas.js';
import { matrixLayout } from '../apps/cli/src/render/matrix.js';
import { sheetLayout } from '../apps/cli/src/render/sheet.js';
import { VARIANTS } from '../apps/cli/src/variants.js';
import { distinctImage } from './fixtures/images.js';
import { startTestService, type TestService, waitFor } from './helpers/service.js';

const BIN = path.resolve(import.meta.dirname, '../apps/cli/bin/lookalike.mjs');

let service: TestService;
let dir: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI against the test service (by LOOKALIKE_API unless args give --api). */
function spawnCli(args: string[], api = service.url) {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...process.env, LOOKALIKE_API: api, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s) => (stderr += s));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done };
}

const cli = (...args: string[]) => spawnCli(args).done;

async function count(collection: string, status?: string): Promise<number> {
  const rows = await service.db.query<{ n: number }>(
    `SELECT count(*) AS n FROM images WHERE collection = $1${status ? ' AND status = $2' : ''}`,
    status ? [collection, status] : [collection],
  );
  return Number(rows[0].n);
}

const allReady = (collection: string, n: number) => waitFor(async () => (await count(collection, 'READY')) === n, 30_000, `${n} READY in ${collection}`);

async function write(file: string, bytes: Buffer | string): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, bytes);
  return file;
}

before(async () => {
  service = await startTestService();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-cli-'));
});

after(async () => {
  await service?.stop();
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

describe('import', () => {
  test('a folder per label: imports everything, then a second run skips everything', async () => {
    const labels = ['bolt', 'nut', 'washer'];
    for (const [l, label] of labels.entries()) for (let i = 0; i < 3; i++) await write(path.join(dir, 'folders', label, `${i}.png`), await distinctImage(100 + l * 10 + i));
    await write(path.join(dir, 'folders', 'README.txt'), 'not a picture, not imported');

    const first = await cli('import', 'folders', '--collection', 'folders', '--concurrency', '3');
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /Imported 9, skipped 0 \(already in "folders"\), failed 0 of 9 images \(folders:/);
    assert.match(first.stderr, /images\/s \| ETA/, 'a progress bar with rate and ETA on stderr');
    assert.equal(await count('folders'), 9);
    const labelled = await service.db.query<{ label: string; n: number }>("SELECT label, count(*) AS n FROM images WHERE collection = 'folders' GROUP BY label ORDER BY label");
    assert.deepEqual(labelled.map((r) => [r.label, Number(r.n)]), labels.map((l) => [l, 3]));

    const again = await cli('import', 'folders', '--collection', 'folders', '--json', '--no-progress');
    assert.equal(again.code, 0, again.stderr);
    const summary = JSON.parse(again.stdout);
    assert.deepEqual([summary.total, summary.imported, summary.skipped, summary.failed], [9, 0, 9, []]);
    assert.equal(again.stderr, '', 'no progress bar with --no-progress');
    assert.equal(await count('folders'), 9, 'nothing stored twice');
  });

  test('a CSV manifest: metadata columns, and bad or missing files reported as failed with a reason', async () => {
    const rows = ['path,label,part,line'];
    for (let i = 0; i < 8; i++) {
      await write(path.join(dir, 'csv', 'imgs', `p${i}.png`), await distinctImage(200 + i));
      rows.push(`imgs/p${i}.png,${i % 3 === 0 ? 'defect' : 'ok'},${i % 2 === 0 ? 'bolt' : 'nut'},L${i % 4}`);
    }
    await write(path.join(dir, 'csv', 'imgs', 'broken.jpg'), 'this is not a JPEG\n');
    rows.push('imgs/broken.jpg,ok,bolt,L0', 'imgs/missing.png,ok,nut,L1');
    await write(path.join(dir, 'csv', 'manifest.csv'), `${rows.join('\n')}\n`);

    const run = await cli('import', path.join(dir, 'csv', 'manifest.csv'), '-c', 'csv');
    assert.equal(run.code, 1, 'a failure makes exit code 1');
    assert.match(run.stdout, /Imported 8, skipped 0 .*failed 2 of 10 images/);
    const failed = run.stdout.slice(run.stdout.indexOf('Failed:'));
    assert.match(failed, /imgs\/broken\.jpg: \S.+/, 'the broken file with the API\'s reason');
    assert.match(failed, /imgs\/missing\.png: file not found \(manifest\.csv line 11\)/);
    const stored = await service.db.query<{ label: string; metadata: Record<string, string> }>("SELECT label, metadata FROM images WHERE collection = 'csv'");
    assert.equal(stored.length, 8);
    assert.ok(stored.every((r) => ['bolt', 'nut'].includes(r.metadata.part) && /^L\d$/.test(r.metadata.line) && !('label' in r.metadata)));
    assert.equal(stored.filter((r) => r.label === 'defect').length, 3);
  });

  test('AI Hub style annotation JSON: label from an attribute, the other attributes as metadata', async () => {
    for (let i = 0; i < 8; i++) {
      const name = `IMG_${String(i).padStart(4, '0')}.png`;
      await write(path.join(dir, 'aihub', 'images', name), await distinctImage(300 + i));
      const annotation = {
        info: { description: 'quality inspection' },
        images: [{ id: i + 1, file_name: name, width: 64, height: 64 }],
        annotations: [{ id: 1, image_id: i + 1, attributes: { part: i % 2 === 0 ? 'bolt' : 'nut', quality: i % 4 === 0 ? 'defect' : 'good' } }],
      };
      await write(path.join(dir, 'aihub', 'labels', `IMG_${String(i).padStart(4, '0')}.json`), JSON.stringify(annotation));
    }
    const run = await cli('import', 'aihub', '-c', 'aihub', '--label-from', 'annotation:quality');
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /Imported 8, skipped 0 .*failed 0 of 8 images \(annotations:/);
    const stored = await service.db.query<{ label: string; metadata: Record<string, string> }>("SELECT label, metadata FROM images WHERE collection = 'aihub'");
    assert.deepEqual(stored.map((r) => r.label).sort(), ['defect', 'defect', 'good', 'good', 'good', 'good', 'good', 'good']);
    assert.ok(stored.every((r) => JSON.stringify(Object.keys(r.metadata)) === '["part"]'), JSON.stringify(stored));
  });

  test('an interrupted import resumes where it stopped', async () => {
    for (let i = 0; i < 24; i++) await write(path.join(dir, 'big', i % 2 ? 'odd' : 'even', `${i}.png`), await distinctImage(400 + i));
    // A slow link: a proxy that holds every upload for a while, so the import can be stopped mid-way.
    const proxy = http.createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (String(req.headers['content-type']).startsWith('multipart/')) await new Promise((r) => setTimeout(r, 250));
      const headers: Record<string, string> = {};
      for (const h of ['content-type', 'apollo-require-preflight']) if (req.headers[h]) headers[h] = String(req.headers[h]);
      const upstream = await fetch(`${service.url}${req.url}`, { method: req.method, headers, body: req.method === 'GET' ? undefined : Buffer.concat(chunks) });
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(Buffer.from(await upstream.arrayBuffer()));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const slow = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
      const run = spawnCli(['import', 'big', '-c', 'big', '--concurrency', '2', '--api', slow]);
      await waitFor(async () => (await count('big')) >= 4, 30_000, 'some uploads');
      run.child.kill('SIGINT');
      const stopped = await run.done;
      assert.equal(stopped.code, 130, stopped.stderr + stopped.stdout);
      assert.match(stopped.stdout, /^Interrupted\. Imported (\d+), skipped 0/);
      assert.match(stopped.stdout, /(\d+) not attempted: run the same command again to resume/);
    } finally {
      await new Promise((r) => proxy.close(r));
    }
    const storedBefore = await count('big');
    assert.ok(storedBefore >= 4 && storedBefore < 24, `stopped mid-way (${storedBefore} stored)`);

    const resumed = await cli('import', 'big', '-c', 'big', '--json');
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout);
    assert.equal(summary.skipped, storedBefore, 'what was stored is skipped');
    assert.equal(summary.imported, 24 - storedBefore, 'the rest is imported');
    assert.equal(await count('big'), 24, 'every file once');
  });
});

describe('search, classify, evaluate', () => {
  before(async () => {
    await allReady('folders', 9);
    await allReady('csv', 8);
    await allReady('aihub', 8);
  });

  test('search prints neighbours with distance and label, and writes a contact sheet', async () => {
    const query = path.join(dir, 'folders', 'nut', '1.png');
    const run = await cli('search', '--query', query, '--topk', '3', '--collection', 'folders', '--out', 'sheet.png');
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.match(lines[0], /^3 nearest of .*1\.png in "folders"/);
    assert.match(lines[1], /^rank\s+distance\s+label\s+id/);
    assert.match(lines[2], /^\s*1\s+0\.0000\s+nut\s+\S+/, 'the stored copy comes first at distance 0');
    assert.equal(lines.filter((l) => /^\s*\d\s+\d\.\d{4}\s+(bolt|nut|washer)\s/.test(l)).length, 3);
    assert.match(run.stdout, /Contact sheet written to sheet\.png\n$/);

    const layout = sheetLayout(3, 160);
    const { data, info } = await sharp(path.join(dir, 'sheet.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [layout.width, layout.height]);
    const px = (x: number, y: number) => [0, 1, 2].map((c) => data[(y * info.width + x) * 3 + c]);
    // The query is the tile on the left, pixel for pixel.
    const expected = await tile(await fs.readFile(query), 160);
    let diff = 0;
    for (let y = 0; y < 160; y++) for (let x = 0; x < 160; x++) for (let c = 0; c < 3; c++) diff += Math.abs(px(layout.queryX + x, layout.tileY + y)[c] - expected[(y * 160 + x) * 3 + c]);
    assert.ok(diff / (160 * 160 * 3) < 2, `query pixels at the left (mean difference ${diff / (160 * 160 * 3)})`);
    // The first result is the same picture (distance 0), downloaded from the API.
    let same = 0;
    for (let y = 0; y < 160; y++) for (let x = 0; x < 160; x++) same += Math.abs(px(layout.resultX[0] + x, layout.tileY + y)[0] - expected[(y * 160 + x) * 3]);
    assert.ok(same / (160 * 160) < 2, 'the nearest result shows the stored copy');
    // Label and distance are written under each result: dark text on the white caption band.
    for (const x0 of layout.resultX) {
      let ink = 0;
      for (let y = layout.captionY; y < layout.captionY + layout.captionHeight; y++) for (let x = x0; x < x0 + 160; x++) if (px(x, y)[0] < 160) ink++;
      assert.ok(ink > 100, `a caption under the result at x=${x0} (${ink} dark pixels)`);
    }
  });

  test('classify prints one line per picture: label, or unknown under the minimum similarity', async () => {
    const stored = await fs.readFile(path.join(dir, 'csv', 'imgs', 'p3.png'));
    const copy = await write(path.join(dir, 'queries', 'copy-of-p3.png'), stored);
    const fresh = await write(path.join(dir, 'queries', 'fresh.png'), await distinctImage(9999));
    const run = await cli('classify', copy, path.join(dir, 'folders', 'bolt', '0.png'), '-c', 'csv', '--k', '1');
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /copy-of-p3\.png: defect \(confidence 1\.000, 1 neighbours, nearest defect at d=0\.0000\)/);
    assert.match(lines[1], /0\.png: (ok|defect) \(confidence /);

    const unknown = await cli('classify', fresh, '-c', 'csv', '--min-similarity', '1', '--vote', 'majority');
    assert.equal(unknown.code, 0, unknown.stderr);
    assert.match(unknown.stdout, /fresh\.png: unknown \(no labelled neighbour with similarity >= 1; nearest \S+ at d=/);

    const filtered = await cli('classify', copy, '-c', 'csv', '--k', '3', '--where', 'part=bolt', '--json');
    assert.equal(filtered.code, 0, filtered.stderr);
    const [result] = JSON.parse(filtered.stdout);
    assert.equal(result.prediction.neighbors.length, 3);
    const bolts = new Set((await service.db.query<{ id: string }>("SELECT id FROM images WHERE collection = 'csv' AND metadata->>'part' = 'bolt'")).map((r) => String(r.id)));
    assert.ok(result.prediction.neighbors.every((n: { image: { id: string } }) => bolts.has(n.image.id)), 'only bolts vote (the query, a nut, is not among them)');

    const broken = await cli('classify', path.join(dir, 'csv', 'imgs', 'broken.jpg'), '-c', 'csv');
    assert.equal(broken.code, 1);
    assert.match(broken.stdout, /broken\.jpg: failed: \S+/);
  });

  test('evaluate prints accuracy per k and label, grouped by part, and writes JSON and the confusion matrix', async () => {
    const run = await cli('evaluate', '-c', 'aihub', '--k', '1,3', '--group-by', 'part', '--out', 'report.json', '--matrix', 'matrix.svg');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Leave-one-out over "aihub" with \S+: 8 labelled images evaluated, 0 skipped/);
    assert.match(run.stdout, /^k=1: accuracy \d+\.\d% \(\d\/8\)$/m);
    assert.match(run.stdout, /^k=3: accuracy \d+\.\d% \(\d\/8\)$/m);
    assert.match(run.stdout, /^\s+label\s+correct\s+total\s+accuracy\n\s+defect\s+\d\s+2\s+\d+\.\d%\n\s+good\s+\d\s+6\s+\d+\.\d%$/m);
    assert.match(run.stdout, /By part \(neighbours restricted to the same part\):\n\s+part=bolt: 4 evaluated, k=1 .*\n\s+part=nut: 4 evaluated/);
    const report = JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8'));
    assert.equal(report.collection, 'aihub');
    assert.deepEqual(report.results.map((r: { k: number }) => r.k), [1, 3]);
    assert.deepEqual(report.groups.map((g: { value: string }) => g.value), ['bolt', 'nut']);
    assert.equal(report.results[0].confusion.matrix.flat().reduce((a: number, b: number) => a + b, 0), 8);
    for (const k of [1, 3]) {
      const svg = await fs.readFile(path.join(dir, `matrix.k${k}.svg`), 'utf8');
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /class="label"[^>]*>defect<\/text>/);
      assert.equal(svg.match(/class="cell"/g)?.length, report.results[k === 1 ? 0 : 1].confusion.labels.length * report.results[k === 1 ? 0 : 1].confusion.predicted.length);
      const meta = await sharp(Buffer.from(svg)).metadata();
      assert.equal(meta.format, 'svg', 'a well-formed SVG');
    }

    const png = await cli('evaluate', '-c', 'aihub', '--k', '1', '--matrix', 'matrix.png', '--json');
    assert.equal(png.code, 0, png.stderr);
    const single = JSON.parse(png.stdout);
    const meta = await sharp(path.join(dir, 'matrix.png')).metadata();
    const layout = matrixLayout(single.results[0].confusion);
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', layout.width, layout.height]);
  });
});

test('reembed --wait follows the progress to the end', async () => {
  await allReady('csv', 8);
  const run = await cli('reembed', '-c', 'csv', '--wait');
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(run.stdout, /^Re-embedding \S+ of "csv" with \S+: 8 images\.\n/);
  assert.match(run.stdout, /COMPLETE: 8 of 8 images re-embedded, 0 failed, in \d+\.\d s\.\n$/);
});

test('reembed --cancel stops a running re-embedding; a finished one, or no target, is refused', async () => {
  // A re-embedding with nothing queued stays RUNNING until cancelled (no worker will finish it).
  const model = service.embedder.info.id;
  const [{ id }] = await service.db.query<{ id: string }>("INSERT INTO reembeddings (model, collection) VALUES ($1, 'csv') RETURNING id", [model]);
  const run = await cli('reembed', '--cancel', id);
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.equal(run.stdout, `Cancelled re-embedding ${id} of "csv" with ${model} after 0 of 0 images.\n`);
  const again = await cli('reembed', '--cancel', id);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /is CANCELLED already: only a RUNNING one can be cancelled/);
  const neither = await cli('reembed');
  assert.equal(neither.code, 1);
  assert.match(neither.stderr, /give either --collection <name> or --cancel <id>/);
  const both = await cli('reembed', '-c', 'csv', '--cancel', id);
  assert.match(both.stderr, /give either --collection <name> or --cancel <id>/);
});

test('robustness reports the distance to the original per variant and deletes the scratch images', async () => {
  const a = await write(path.join(dir, 'robust', 'a.png'), await distinctImage(501, 96));
  const b = await write(path.join(dir, 'robust', 'b.png'), await distinctImage(502, 96));
  const run = await cli('robustness', a, b, '--collection', 'scratch', '--out', 'robust.json');
  assert.equal(run.code, 0, run.stderr + run.stdout);
  for (const v of VARIANTS) assert.match(run.stdout, new RegExp(`^a\\.png\\s+${v.name.replace('+', '\\+')}\\s+\\d\\.\\d{4}\\s+(yes|no)`, 'm'));
  assert.match(run.stdout, /By variant:\n\s*variant\s+mean distance\s+max distance\s+kept\n/);
  assert.match(run.stdout, /Scratch collection "scratch": 2 image\(s\) deleted\./);
  const report = JSON.parse(await fs.readFile(path.join(dir, 'robust.json'), 'utf8'));
  assert.equal(report.rows.length, 2 * VARIANTS.length);
  assert.ok(report.rows.every((r: { distance: number }) => r.distance >= 0 && r.distance <= 2));
  assert.deepEqual(report.summary.map((s: { variant: string }) => s.variant), VARIANTS.map((v) => v.name));
  assert.equal(await count('scratch'), 0, 'scratch images deleted');
});
