import { ThreadEmbedder } from '@lookalike/embedding';
import type { Config } from '@lookalike/shared/config';
import type { Embedder } from '@lookalike/shared/ports';

/** The model runtime, chosen by config. Random weights are named so in the model id. */
export function createEmbedder(config: Config): Promise<Embedder> {
  return ThreadEmbedder.create({ preset: config.MODEL, seed: config.MODEL_SEED, backend: config.MODEL_BACKEND });
}
