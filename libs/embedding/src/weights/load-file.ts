import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { KERAS_DENSENET121_NOTOP, md5Hex } from '../weights-source.js';
import { readKerasH5Weights } from './keras-h5.js';
import { readTfjsLayersWeights, readTfjsShards } from './tfjs-layers.js';
import { type NamedWeights, WeightsError } from './types.js';

/** What a weights file is, known from its bytes alone (nothing decoded). */
export interface WeightsFileIdentity {
  /** Goes into the model id: the same file always gives the same tag, another file another tag. */
  tag: string;
  /** Only the official Keras ImageNet file is called pretrained: we cannot vouch for any other. */
  pretrained: boolean;
  source: string;
}

export interface IdentifiedWeightsFile extends WeightsFileIdentity {
  /**
   * Decodes the weights from the bytes read to identify the file (h5wasm for .h5, the manifest for
   * model.json); throws WeightsError for a file that is not what it claims. Each call decodes anew.
   */
  parse(): Promise<NamedWeights>;
}

export interface LoadedWeights extends WeightsFileIdentity {
  weights: NamedWeights;
}

/**
 * Reads and digests a Keras HDF5 weights file (`*.h5`) or a TensorFlow.js layers model
 * (`model.json` and every shard it lists) without decoding it: a model id needs only the digest,
 * and decoding an .h5 costs seconds and hundreds of MB. A missing file or shard fails here.
 */
export async function identifyWeightsFile(file: string): Promise<IdentifiedWeightsFile> {
  const bytes = await fs.readFile(file).catch((error: Error) => {
    throw new WeightsError(`Cannot read the weights file ${file}: ${error.message}`);
  });
  const sha = createHash('sha256').update(bytes);
  let parse: () => Promise<NamedWeights>;
  if (file.endsWith('.json')) {
    let modelJson: unknown;
    try {
      modelJson = JSON.parse(bytes.toString('utf8'));
    } catch {
      throw new WeightsError(`${file} is not valid JSON (expected a TensorFlow.js layers model.json).`);
    }
    // The digest covers model.json then its shards in read order: model ids already stored depend on it.
    const shards = await readTfjsShards(modelJson, (shard) => fs.readFile(path.resolve(path.dirname(file), shard)));
    for (const shard of shards) sha.update(shard.bytes);
    const shardBytes = new Map(shards.map((s) => [s.path, s.bytes]));
    parse = () => readTfjsLayersWeights(modelJson, async (shard) => shardBytes.get(shard)!);
  } else {
    parse = () => readKerasH5Weights(bytes);
  }
  const official = md5Hex(bytes) === KERAS_DENSENET121_NOTOP.md5;
  return {
    tag: official ? 'keras-imagenet' : `weights-${sha.digest('hex').slice(0, 12)}`,
    pretrained: official,
    source: official ? `Keras ImageNet weights (${KERAS_DENSENET121_NOTOP.fileName})` : `file ${file}`,
    parse,
  };
}

/** identifyWeightsFile, then parse: the file's identity and its decoded weights. */
export async function loadWeightsFile(file: string): Promise<LoadedWeights> {
  const { parse, ...identity } = await identifyWeightsFile(file);
  return { ...identity, weights: await parse() };
}
