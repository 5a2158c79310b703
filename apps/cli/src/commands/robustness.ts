/**
 * `lookalike robustness <images…>`: how far each picture's vector moves under resize, crop,
 * rotation, flip, brightness and background changes. The originals go into a scratch collection;
 * each variant is searched there (k = every image there) for the cosine distance to its own
 * original and whether that original is still the nearest. The scratch images are deleted after.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../client.js';
import { percent, table, writeFileMaking } from '../format.js';
import { VARIANTS } from '../variants.js';

export interface RobustnessOptions {
  collection?: string;
  out?: string;
  json?: boolean;
  /** How long to wait for the originals to be embedded. */
  timeoutMs?: number;
}

export interface RobustnessRow {
  image: string;
  variant: string;
  /** Cosine distance from the variant to its original; null when the original was not among the results. */
  distance: number | null;
  nearestIsOriginal: boolean;
  nearest: { image: string | null; distance: number } | null;
  error?: string;
}

export interface RobustnessReport {
  collection: string;
  model: string | null;
  images: string[];
  failed: { image: string; reason: string }[];
  variants: { name: string; description: string }[];
  rows: RobustnessRow[];
  summary: { variant: string; meanDistance: number | null; maxDistance: number | null; nearestIsOriginal: number; total: number }[];
  deleted: number;
}

const UPLOAD = `mutation Upload($file: Upload!, $collection: String!, $label: String, $metadata: JSON) {
  uploadImage(file: $file, collection: $collection, label: $label, metadata: $metadata) { id }
}`;
const STATUS = `query Status($id: ID!) { image(id: $id) { id status error } }`;
const SIMILAR = `query Similar($image: Upload!, $collection: String, $k: Int) {
  similarImages(image: $image, collection: $collection, k: $k) { image { id } distance }
}`;
const DELETE = `mutation Delete($id: ID!) { deleteImage(id: $id) }`;
const MODEL = `query { model { id } }`;
const COUNT = `query Count($collection: String!) { images(collection: $collection, first: 1) { totalCount } }`;

export function scratchCollection(): string {
  return `robustness-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}

async function waitReady(client: ApiClient, id: string, timeoutMs: number): Promise<void> {
  const started = Date.now();
  for (;;) {
    const { image } = await client.request<{ image: { status: string; error: string | null } | null }>(STATUS, { id });
    if (!image) throw new Error('the uploaded image disappeared');
    if (image.status === 'READY') return;
    if (image.status === 'FAILED') throw new Error(image.error ?? 'embedding failed');
    if (Date.now() - started > timeoutMs) throw new Error(`not embedded after ${Math.round(timeoutMs / 1000)} s (is a worker running?)`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function runRobustness(client: ApiClient, files: string[], options: RobustnessOptions, out: NodeJS.WritableStream = process.stdout): Promise<RobustnessReport> {
  const collection = options.collection ?? scratchCollection();
  const report: RobustnessReport = {
    collection,
    model: null,
    images: [],
    failed: [],
    variants: VARIANTS.map(({ name, description }) => ({ name, description })),
    rows: [],
    summary: [],
    deleted: 0,
  };
  /** Every original uploaded (all are deleted at the end), and those embedded (the ones measured). */
  const uploaded: { file: string; id: string; bytes: Buffer }[] = [];
  const originals: typeof uploaded = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);
  try {
    for (const file of files) {
      try {
        const bytes = await fs.readFile(file);
        const { uploadImage } = await client.upload<{ uploadImage: { id: string } }>(
          UPLOAD,
          { collection, label: path.basename(file), metadata: { robustness: true } },
          { file: { bytes, name: path.basename(file) } },
        );
        uploaded.push({ file, id: uploadImage.id, bytes });
      } catch (error) {
        report.failed.push({ image: file, reason: (error as Error).message });
      }
    }
    log(`Uploaded ${uploaded.length} original(s) to scratch collection "${collection}"; waiting for their vectors...`);
    for (const o of uploaded) {
      try {
        await waitReady(client, o.id, options.timeoutMs ?? 120_000);
        originals.push(o);
      } catch (error) {
        report.failed.push({ image: o.file, reason: (error as Error).message });
      }
    }
    report.images = originals.map((o) => o.file);
    report.model = (await client.request<{ model: { id: string } | null }>(MODEL).catch(() => ({ model: null }))).model?.id ?? null;
    const names = new Map(originals.map((o) => [o.id, o.file]));
    // A scratch collection that already held images: search them all, so the original is among the results.
    const { images } = await client.request<{ images: { totalCount: number } }>(COUNT, { collection });
    const k = Math.min(100, Math.max(originals.length, images.totalCount));
    for (const o of originals) {
      for (const variant of VARIANTS) {
        try {
          const bytes = await variant.apply(o.bytes);
          const { similarImages } = await client.upload<{ similarImages: { image: { id: string }; distance: number }[] }>(
            SIMILAR,
            { collection, k },
            { image: { bytes, name: `${variant.name}.png` } },
          );
          const own = similarImages.find((n) => n.image.id === o.id);
          const first = similarImages[0];
          report.rows.push({
            image: o.file,
            variant: variant.name,
            distance: own ? own.distance : null,
            nearestIsOriginal: first?.image.id === o.id,
            nearest: first ? { image: names.get(first.image.id) ?? first.image.id, distance: first.distance } : null,
          });
        } catch (error) {
          report.rows.push({ image: o.file, variant: variant.name, distance: null, nearestIsOriginal: false, nearest: null, error: (error as Error).message });
        }
      }
    }
  } finally {
    for (const o of uploaded) {
      await client.request(DELETE, { id: o.id }).then(
        () => report.deleted++,
        (error: Error) => log(`could not delete scratch image ${o.id}: ${error.message}`),
      );
    }
  }
  report.summary = VARIANTS.map((v) => {
    const rows = report.rows.filter((r) => r.variant === v.name);
    const distances = rows.map((r) => r.distance).filter((d): d is number => d !== null);
    return {
      variant: v.name,
      meanDistance: distances.length ? distances.reduce((a, b) => a + b, 0) / distances.length : null,
      maxDistance: distances.length ? Math.max(...distances) : null,
      nearestIsOriginal: rows.filter((r) => r.nearestIsOriginal).length,
      total: rows.length,
    };
  });

  if (options.out) await writeFileMaking(options.out, `${JSON.stringify(report, null, 2)}\n`);
  if (options.json) {
    out.write(`${JSON.stringify(report, null, 2)}\n`);
    return report;
  }
  const lines: string[] = [`Robustness of ${report.images.length} image(s) with ${report.model ?? 'the active model'} (cosine distance to the original; "kept" = the original is still the nearest):`];
  lines.push(
    table(
      ['image', 'variant', 'distance', 'kept', 'nearest'],
      report.rows.map((r) => [
        path.basename(r.image),
        r.variant,
        r.distance === null ? '-' : r.distance.toFixed(4),
        r.error ? 'error' : r.nearestIsOriginal ? 'yes' : 'no',
        r.error ? r.error : r.nearest ? `${path.basename(r.nearest.image ?? '')} d=${r.nearest.distance.toFixed(4)}` : '-',
      ]),
      [2],
    ),
  );
  lines.push('', 'By variant:');
  lines.push(
    table(
      ['variant', 'mean distance', 'max distance', 'kept'],
      report.summary.map((s) => [
        s.variant,
        s.meanDistance === null ? '-' : s.meanDistance.toFixed(4),
        s.maxDistance === null ? '-' : s.maxDistance.toFixed(4),
        `${s.nearestIsOriginal}/${s.total}${s.total ? ` (${percent(s.nearestIsOriginal / s.total)})` : ''}`,
      ]),
      [1, 2],
    ),
  );
  for (const f of report.failed) lines.push(`failed: ${f.image}: ${f.reason}`);
  lines.push(`Scratch collection "${collection}": ${report.deleted} image(s) deleted.`);
  if (options.out) lines.push(`Wrote ${options.out}`);
  out.write(`${lines.join('\n')}\n`);
  return report;
}
