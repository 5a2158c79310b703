/**
 * `lookalike evaluate --collection C [--k 1,5] [--group-by part]`: leave-one-out accuracy of kNN
 * classification over a stored collection, per k and per label; JSON report and confusion matrix.
 */
import path from 'node:path';
import type { ApiClient } from '../client.js';
import { percent, table, writeFileMaking } from '../format.js';
import { type Confusion, confusionPng, confusionSvg } from '../render/matrix.js';

export interface EvaluateOptions {
  collection: string;
  k: number[];
  vote?: 'MAJORITY' | 'SIMILARITY';
  groupBy?: string;
  baseline?: boolean;
  out?: string;
  matrix?: string;
  json?: boolean;
}

interface LabelScore {
  label: string;
  total: number;
  correct: number;
  accuracy: number;
}

interface KScore {
  k: number;
  total: number;
  correct: number;
  accuracy: number;
  perLabel: LabelScore[];
  confusion: Confusion;
  misclassified: {
    image: { id: string; label: string | null; url: string | null; metadata: Record<string, unknown> | null };
    expected: string;
    predicted: string | null;
    nearest: { distance: number; image: { id: string; label: string | null } } | null;
  }[];
}

export interface EvaluationResult {
  collection: string;
  model: string;
  evaluated: number;
  skipped: number;
  results: KScore[];
  groups: { value: string; evaluated: number; results: KScore[] }[];
  baseline?: KScore[] | null;
}

const KSCORE = `k total correct accuracy
  perLabel { label total correct accuracy }
  confusion { labels predicted matrix }
  misclassified { image { id label url metadata } expected predicted nearest { distance image { id label } } }`;

/** The query, asking for groups and the baseline only when wanted (an older API may lack them). */
export function evaluationQuery(options: { groupBy?: boolean; baseline?: boolean }): string {
  const args = ['$collection: String!', '$k: [Int!]', '$vote: Vote'];
  const pass = ['collection: $collection', 'k: $k', 'vote: $vote'];
  if (options.groupBy) {
    args.push('$groupBy: String');
    pass.push('groupBy: $groupBy');
  }
  if (options.baseline) {
    args.push('$baseline: Boolean');
    pass.push('baseline: $baseline');
  }
  return `query Evaluate(${args.join(', ')}) {
  evaluation(${pass.join(', ')}) {
    collection model evaluated skipped
    results { ${KSCORE} }
    ${options.groupBy ? `groups { value evaluated results { ${KSCORE} } }` : ''}
    ${options.baseline ? `baseline { ${KSCORE} }` : ''}
  }
}`;
}

/** Where the matrix of one k goes: the path itself for a single k, else name.k5.svg and so on. */
export function matrixPath(file: string, k: number, many: boolean): string {
  if (!many) return file;
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}.k${k}${ext}`;
}

function scoreLines(scores: KScore[], indent = ''): string[] {
  const lines: string[] = [];
  for (const s of scores) {
    lines.push(`${indent}k=${s.k}: accuracy ${percent(s.accuracy)} (${s.correct}/${s.total})`);
    const t = table(
      ['label', 'correct', 'total', 'accuracy'],
      s.perLabel.map((l) => [l.label, String(l.correct), String(l.total), percent(l.accuracy)]),
      [1, 2, 3],
    );
    lines.push(...t.split('\n').map((l) => `${indent}  ${l}`));
  }
  return lines;
}

export async function runEvaluate(client: ApiClient, options: EvaluateOptions, out: NodeJS.WritableStream = process.stdout): Promise<EvaluationResult> {
  const variables: Record<string, unknown> = { collection: options.collection, k: options.k };
  if (options.vote) variables.vote = options.vote;
  if (options.groupBy) variables.groupBy = options.groupBy;
  if (options.baseline) variables.baseline = true;
  const { evaluation } = await client.request<{ evaluation: EvaluationResult }>(
    evaluationQuery({ groupBy: !!options.groupBy, baseline: options.baseline }),
    variables,
  );
  evaluation.groups ??= [];

  const written: string[] = [];
  if (options.out) {
    await writeFileMaking(options.out, `${JSON.stringify({ ...evaluation, vote: options.vote ?? 'SIMILARITY', groupBy: options.groupBy ?? null }, null, 2)}\n`);
    written.push(`report: ${options.out}`);
  }
  if (options.matrix) {
    const many = evaluation.results.length > 1;
    const png = path.extname(options.matrix).toLowerCase() === '.png';
    for (const s of evaluation.results) {
      const file = matrixPath(options.matrix, s.k, many);
      const title = `${evaluation.collection}: k=${s.k}, accuracy ${percent(s.accuracy)} (${s.correct}/${s.total})`;
      await writeFileMaking(file, png ? await confusionPng(s.confusion, title) : confusionSvg(s.confusion, title));
      written.push(`confusion matrix k=${s.k}: ${file}`);
    }
  }

  if (options.json) {
    out.write(`${JSON.stringify(evaluation, null, 2)}\n`);
    for (const w of written) process.stderr.write(`wrote ${w}\n`);
    return evaluation;
  }
  const lines = [
    `Leave-one-out over "${evaluation.collection}" with ${evaluation.model}: ${evaluation.evaluated} labelled images evaluated, ${evaluation.skipped} skipped (no vector yet${options.groupBy ? ` or no ${options.groupBy}` : ''}).`,
    ...scoreLines(evaluation.results),
  ];
  for (const s of evaluation.results) {
    if (s.misclassified.length === 0) continue;
    lines.push(`Misclassified at k=${s.k} (${s.misclassified.length}):`);
    for (const m of s.misclassified.slice(0, 20)) {
      const nearest = m.nearest ? `; nearest ${m.nearest.image.id} (${m.nearest.image.label ?? 'no label'}, d=${m.nearest.distance.toFixed(4)})` : '';
      lines.push(`  ${m.image.id}: expected ${m.expected}, predicted ${m.predicted ?? '(none)'}${nearest}`);
    }
    if (s.misclassified.length > 20) lines.push(`  ... and ${s.misclassified.length - 20} more (see the JSON report)`);
  }
  if (options.groupBy) {
    lines.push(`By ${options.groupBy} (neighbours restricted to the same ${options.groupBy}):`);
    for (const g of evaluation.groups) {
      lines.push(`  ${options.groupBy}=${g.value}: ${g.evaluated} evaluated, ${g.results.map((r) => `k=${r.k} ${percent(r.accuracy)} (${r.correct}/${r.total})`).join(', ')}`);
    }
  }
  if (evaluation.baseline) {
    lines.push('Raw-pixel baseline (exact cosine kNN on 32x32 RGB pixels):');
    for (const b of evaluation.baseline) {
      const model = evaluation.results.find((r) => r.k === b.k);
      lines.push(`  k=${b.k}: ${percent(b.accuracy)} (${b.correct}/${b.total})${model ? ` vs model ${percent(model.accuracy)}` : ''}`);
    }
  }
  for (const w of written) lines.push(`Wrote ${w}`);
  out.write(`${lines.join('\n')}\n`);
  return evaluation;
}
