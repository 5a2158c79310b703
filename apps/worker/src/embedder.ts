import path from 'node:path';
import { ThreadEmbedder } from '@lookalike/embedding';
import { resolveWeightsFile } from '@lookalike/embedding/weights-source';
import type { Config } from '@lookalike/shared/config';
import type { Embedder } from '@lookalike/shared/ports';

export function modelCacheDir(config: Config): string {
  return path.join(config.dataDir, 'models');
}

/** The model runtime, chosen by config. Random weights are named so in the model id and warned of. */
export async function createEmbedder(config: Config, warn: (message: string) => void = console.warn): Promise<Embedder> {
  const weights = await resolveWeightsFile({ spec: config.MODEL_WEIGHTS, preset: config.MODEL, cacheDir: modelCacheDir(config) });
  if (weights.warning) warn(weights.warning);
  return ThreadEmbedder.create({
    preset: config.MODEL,
    seed: config.MODEL_SEED,
    backend: config.MODEL_BACKEND,
    weightsFile: weights.file,
    preprocessing: { resize: config.MODEL_RESIZE, crop: config.MODEL_CROP },
  });
}
