/**
 * `lookalike import <source> --collection C`: uploads a labelled dataset in parallel, skipping
 * files already stored in the collection (same sha256), so a run that was interrupted resumes
 * where it stopped when started again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { ApiError, type ApiClient } from '../client.js';
import { type DatasetItem, type DatasetProblem, parseLabelFrom, readDataset } from '../dataset.js';
import { createProgress } from '../progress.js';

export interface ImportOptions {
  collection: string;
  labelFrom?: string;
  concurrency: number;
  progress: boolean;
  json?: boolean;
}

export interface ImportSummary {
  source: string;
  kind: string;
  collection: string;
  total: number;
  imported: number;
  skipped: number;
  failed: DatasetProblem[];
  /** Set when the run was interrupted: items never attempted. */
  notAttempted?: number;
}

const EXISTS = `query Exists($collection: String!, $sha256: String!) {
  images(collection: $collection, sha256: $sha256, first: 1) { totalCount }
}`;

const UPLOAD = `mutation Upload($file: Upload!, $collection: String!, $label: String, $metadata: JSON) {
  uploadImage(file: $file, collection: $collection, label: $label, metadata: $metadata) { id status }
}`;

/** Retries a call that failed on the network (not one the API refused), twice, with a pause. */
async function withRetry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'NETWORK') || i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 300 * i));
    }
  }
}

export async function runImport(
  client: ApiClient,
  source: string,
  options: ImportOptions,
  out: NodeJS.WritableStream = process.stdout,
): Promise<ImportSummary> {
  const dataset = await readDataset(source, parseLabelFrom(options.labelFrom));
  const summary: ImportSummary = {
    source: path.resolve(source),
    kind: dataset.kind,
    collection: options.collection,
    total: dataset.items.length + dataset.problems.length,
    imported: 0,
    skipped: 0,
    failed: [...dataset.problems],
  };
  const counters = () => ({ imported: summary.imported, skipped: summary.skipped, failed: summary.failed.length });
  const progress = createProgress({ unit: 'images', extra: 'imported {imported} skipped {skipped} failed {failed}', enabled: options.progress });
  const limit = pLimit(options.concurrency);
  // Copies of one file in the dataset are uploaded once: the others are skipped like stored ones.
  const claimed = new Set<string>();
  let canCheck = true;
  let interrupted = false;

  const one = async (item: DatasetItem) => {
    // After Ctrl-C the uploads under way finish; the rest are left for the next run.
    if (interrupted) return;
    try {
      const bytes = await fs.readFile(item.file);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (claimed.has(sha256)) {
        summary.skipped++;
        return;
      }
      claimed.add(sha256);
      if (canCheck) {
        try {
          const found = await withRetry(() => client.request<{ images: { totalCount: number } }>(EXISTS, { collection: options.collection, sha256 }));
          if (found.images.totalCount > 0) {
            summary.skipped++;
            return;
          }
        } catch (error) {
          // An API without images(sha256:) cannot say what is stored: import everything, once warned.
          if (!(error instanceof ApiError && /sha256/.test(error.message) && /argument/i.test(error.message))) throw error;
          if (canCheck) process.stderr.write('warning: this API cannot look images up by sha256; files already stored will be uploaded again.\n');
          canCheck = false;
        }
      }
      await withRetry(() =>
        client.upload(UPLOAD, { collection: options.collection, label: item.label, metadata: item.metadata }, { file: { bytes, name: path.basename(item.file) } }),
      );
      summary.imported++;
    } catch (error) {
      summary.failed.push({ name: item.name, reason: error instanceof Error ? error.message : String(error) });
    } finally {
      progress.increment(counters());
    }
  };

  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('\ninterrupted: finishing the uploads under way (Ctrl-C again to quit at once)\n');
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  try {
    progress.start(summary.total, counters());
    if (dataset.problems.length) progress.update(dataset.problems.length, counters());
    await Promise.all(dataset.items.map((item) => limit(() => one(item))));
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (interrupted) summary.notAttempted = summary.total - summary.imported - summary.skipped - summary.failed.length;
  printSummary(summary, options.json === true, out);
  return summary;
}

function printSummary(summary: ImportSummary, json: boolean, out: NodeJS.WritableStream): void {
  if (json) {
    out.write(`${JSON.stringify(summary, null, 2)}\n`);
    return;
  }
  const lines = [
    `${summary.notAttempted !== undefined ? 'Interrupted. ' : ''}Imported ${summary.imported}, skipped ${summary.skipped} (already in "${summary.collection}"), failed ${summary.failed.length} of ${summary.total} images (${summary.kind}: ${summary.source}).`,
  ];
  if (summary.notAttempted !== undefined) lines.push(`${summary.notAttempted} not attempted: run the same command again to resume.`);
  if (summary.failed.length) {
    lines.push('Failed:');
    for (const f of summary.failed) lines.push(`  ${f.name}: ${f.reason}`);
  }
  out.write(`${lines.join('\n')}\n`);
}
