import path from 'node:path';
import { ModelHosts } from '@lookalike/embedding';
import { resolveWeightsFile } from '@lookalike/embedding/weights-source';
import type { Config } from '@lookalike/shared/config';
import type { Embedder } from '@lookalike/shared/ports';

export function modelCacheDir(config: Config): string {
  return config.MODEL_CACHE_DIR ? path.resolve(config.MODEL_CACHE_DIR) : path.join(config.dataDir, 'models');
}

/** The model runtime, chosen by config. Random weights are named so in the model id and warned of. */
export async function createEmbedder(config: Config, warn: (message: string) => void = console.warn): Promise<Embedder> {
  const cacheDir = modelCacheDir(config);
  const weights = await resolveWeightsFile({ spec: config.MODEL_WEIGHTS, preset: config.MODEL, cacheDir });
  if (weights.warning) warn(weights.warning);
  const embedder = await ModelHosts.create({
    hosts: config.MODEL_HOSTS,
    preset: config.MODEL,
    seed: config.MODEL_SEED,
    runtime: config.MODEL_RUNTIME,
    threads: config.MODEL_THREADS,
    // Converted ONNX graphs live beside the weights, keyed by model id.
    cacheDir,
    weightsFile: weights.file,
    preprocessing: { resize: config.MODEL_RESIZE, crop: config.MODEL_CROP },
    // Readiness follows a warm-up at the batch size the worker sends, not only one image.
    warmupBatch: config.EMBED_BATCH,
  });
  // `auto` fell back from a faster runtime: say why, it usually means a missing package or driver.
  for (const reason of embedder.startup.skipped) warn(`MODEL_RUNTIME=auto skipped ${reason}`);
  return embedder;
}
