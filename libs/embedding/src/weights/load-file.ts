import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { KERAS_DENSENET121_NOTOP, md5Hex } from '../weights-source.js';
import { readKerasH5Weights } from './keras-h5.js';
import { readTfjsLayersWeights } from './tfjs-layers.js';
import { type NamedWeights, WeightsError } from './types.js';

export interface LoadedWeights {
  weights: NamedWeights;
  /** Goes into the model id: the same file always gives the same tag, another file another tag. */
  tag: string;
  /** Only the official Keras ImageNet file is called pretrained: we cannot vouch for any other. */
  pretrained: boolean;
  source: string;
}

/** A Keras HDF5 weights file (`*.h5`) or a TensorFlow.js layers model (`model.json` beside its shards). */
export async function loadWeightsFile(file: string): Promise<LoadedWeights> {
  const bytes = await fs.readFile(file).catch((error: Error) => {
    throw new WeightsError(`Cannot read the weights file ${file}: ${error.message}`);
  });
  const sha = createHash('sha256').update(bytes);
  let weights: NamedWeights;
  if (file.endsWith('.json')) {
    let modelJson: unknown;
    try {
      modelJson = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new WeightsError(`${file} is not valid JSON (expected a TensorFlow.js layers model.json).`);
    }
    weights = await readTfjsLayersWeights(modelJson, async (shard) => {
      const data = await fs.readFile(path.resolve(path.dirname(file), shard));
      sha.update(data);
      return data;
    });
  } else {
    weights = await readKerasH5Weights(bytes);
  }
  const official = md5Hex(bytes) === KERAS_DENSENET121_NOTOP.md5;
  return {
    weights,
    tag: official ? 'keras-imagenet' : `weights-${sha.digest('hex').slice(0, 12)}`,
    pretrained: official,
    source: official ? `Keras ImageNet weights (${KERAS_DENSENET121_NOTOP.fileName})` : `file ${file}`,
  };
}
