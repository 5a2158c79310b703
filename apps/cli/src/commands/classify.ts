/** `lookalike classify img.jpg…`: the kNN label of each picture, without storing it. */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../client.js';
import type { Where } from '../format.js';

export interface ClassifyCliOptions {
  collection?: string;
  k: number;
  vote?: 'MAJORITY' | 'SIMILARITY';
  where?: Where;
  minSimilarity?: number;
  json?: boolean;
}

export interface Prediction {
  label: string | null;
  confidence: number;
  unknown: boolean;
  model: string;
  neighbors: { distance: number; image: { id: string; label: string | null } }[];
}

export interface ClassifyResult {
  file: string;
  prediction?: Prediction;
  error?: string;
}

const CLASSIFY = `query Classify($image: Upload!, $collection: String, $options: ClassifyOptions) {
  classify(image: $image, collection: $collection, options: $options) {
    label confidence unknown model
    neighbors { distance image { id label } }
  }
}`;

export function describePrediction(file: string, p: Prediction, minSimilarity?: number): string {
  const nearest = p.neighbors[0];
  const near = nearest ? `nearest ${nearest.image.label ?? '(no label)'} at d=${nearest.distance.toFixed(4)}` : 'no neighbour';
  if (p.unknown || p.label === null) {
    const why = minSimilarity !== undefined ? `no labelled neighbour with similarity >= ${minSimilarity}` : 'no labelled neighbour voted';
    return `${file}: unknown (${why}; ${near})`;
  }
  return `${file}: ${p.label} (confidence ${p.confidence.toFixed(3)}, ${p.neighbors.length} neighbours, ${near})`;
}

export async function runClassify(client: ApiClient, files: string[], options: ClassifyCliOptions, out: NodeJS.WritableStream = process.stdout): Promise<ClassifyResult[]> {
  const results: ClassifyResult[] = [];
  const classifyOptions = {
    k: options.k,
    ...(options.vote ? { vote: options.vote } : {}),
    ...(options.where && Object.keys(options.where).length ? { where: options.where } : {}),
    ...(options.minSimilarity !== undefined ? { minSimilarity: options.minSimilarity } : {}),
  };
  for (const file of files) {
    try {
      const bytes = await fs.readFile(file);
      const { classify } = await client.upload<{ classify: Prediction }>(
        CLASSIFY,
        { collection: options.collection ?? null, options: classifyOptions },
        { image: { bytes, name: path.basename(file) } },
      );
      results.push({ file, prediction: classify });
      if (!options.json) out.write(`${describePrediction(file, classify, options.minSimilarity)}\n`);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      results.push({ file, error: reason });
      if (!options.json) out.write(`${file}: failed: ${reason}\n`);
    }
  }
  if (options.json) out.write(`${JSON.stringify(results, null, 2)}\n`);
  return results;
}
