import fs from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { shapeSize, WeightsError, type NamedWeight, type NamedWeights } from './types.js';

/** Bytes per stored value, by the dtype a weight is stored in (its quantization dtype if quantized). */
const STORED_BYTES: Record<string, number> = { float32: 4, uint8: 1, uint16: 2, float16: 2 };

interface ManifestEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseEntry(value: unknown, where: string): ManifestEntry {
  if (!isRecord(value) || typeof value.name !== 'string' || value.name === '') {
    throw new WeightsError(`model.json: ${where} has no name`);
  }
  const { name, shape, dtype, quantization } = value;
  if (!Array.isArray(shape) || Number.isNaN(shapeSize(shape as number[]))) {
    throw new WeightsError(`model.json: ${where} (${name}) has no valid shape`);
  }
  if (dtype !== 'float32') throw new WeightsError(`model.json: ${where} (${name}) has dtype ${String(dtype)}, expected float32`);
  if (quantization !== undefined) {
    if (!isRecord(quantization) || !['uint8', 'uint16', 'float16'].includes(quantization.dtype as string)) {
      throw new WeightsError(`model.json: ${where} (${name}) has an unknown quantization`);
    }
  }
  return value as unknown as ManifestEntry;
}

/** Every layer name in a Keras/tfjs topology (`modelTopology`), nested models included. */
function topologyLayerNames(topology: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (!isRecord(node)) return;
    if (isRecord(node.model_config)) visit(node.model_config); // Keras' model.save layout
    const config = node.config;
    const layers = Array.isArray(config) ? config : isRecord(config) && Array.isArray(config.layers) ? config.layers : [];
    for (const layer of layers) {
      if (!isRecord(layer)) continue;
      const name = typeof layer.name === 'string' ? layer.name : isRecord(layer.config) ? layer.config.name : undefined;
      if (typeof name === 'string') names.add(name);
      visit(layer);
    }
  };
  visit(topology);
  return names;
}

/**
 * The layer a weight belongs to: the longest tail of its path (without the weight's own name) that
 * is a layer of the topology, also after dropping a uniquifying `_N` from its last part
 * (`conv1/conv_1/kernel` → `conv1/conv`). Without a match, the path itself.
 */
function layerOf(weightName: string, layerNames: ReadonlySet<string>): string {
  const parts = weightName.split('/');
  parts.pop();
  if (parts.length === 0) throw new WeightsError(`model.json: weight ${weightName} has no layer prefix`);
  for (let start = 0; start < parts.length; start++) {
    const candidate = parts.slice(start).join('/');
    if (layerNames.has(candidate)) return candidate;
    const unsuffixed = candidate.replace(/_\d+$/, '');
    if (unsuffixed !== candidate && layerNames.has(unsuffixed)) return unsuffixed;
  }
  return parts.join('/');
}

function decodeEntry(bytes: Uint8Array, entry: ManifestEntry): Float32Array {
  // slice() copies into a fresh, aligned buffer.
  const buffer = bytes.slice().buffer;
  if (!entry.quantization) return new Float32Array(buffer);
  const tensors = tf.io.decodeWeights(buffer, [entry]);
  try {
    return Float32Array.from(tensors[entry.name]!.dataSync() as Float32Array);
  } finally {
    Object.values(tensors).forEach((t) => t.dispose());
  }
}

interface WeightGroup {
  paths: string[];
  weights: unknown[];
}

/** A model.json's topology and weight groups, the groups checked only as far as their shard paths and weight lists. */
function readManifest(modelJson: unknown): { topology: unknown; groups: WeightGroup[] } {
  if (!isRecord(modelJson) || !Array.isArray(modelJson.weightsManifest)) {
    throw new WeightsError('model.json: not a TensorFlow.js model (no weightsManifest)');
  }
  const groups = modelJson.weightsManifest.map((group: unknown, g) => {
    if (!isRecord(group) || !Array.isArray(group.paths) || !group.paths.every((p) => typeof p === 'string') || !Array.isArray(group.weights)) {
      throw new WeightsError(`model.json: weightsManifest[${g}] needs paths and weights`);
    }
    return { paths: group.paths as string[], weights: group.weights };
  });
  return { topology: modelJson.modelTopology, groups };
}

async function loadShardOrThrow(shardPath: string, loadShard: (path: string) => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await loadShard(shardPath);
  } catch (error) {
    throw new WeightsError(`Could not load weights shard ${shardPath}: ${(error as Error).message}`, undefined, { cause: error });
  }
}

/**
 * Every shard of a TensorFlow.js layers model, in the order readTfjsLayersWeights reads them
 * (weightsManifest order, a repeated path repeated), without decoding any weight: enough to
 * digest the model.
 */
export async function readTfjsShards(
  modelJson: unknown,
  loadShard: (path: string) => Promise<Uint8Array>,
): Promise<{ path: string; bytes: Uint8Array }[]> {
  const shards: { path: string; bytes: Uint8Array }[] = [];
  for (const group of readManifest(modelJson).groups) {
    for (const shardPath of group.paths) shards.push({ path: shardPath, bytes: await loadShardOrThrow(shardPath, loadShard) });
  }
  return shards;
}

/**
 * Reads the weights of a TensorFlow.js layers model: `modelJson` is its parsed model.json,
 * `loadShard` returns the bytes of a shard given its path as model.json writes it (relative to
 * model.json). Weights are grouped by layer using the topology's layer names, in file order.
 */
export async function readTfjsLayersWeights(
  modelJson: unknown,
  loadShard: (path: string) => Promise<Uint8Array>,
): Promise<NamedWeights> {
  const { topology, groups } = readManifest(modelJson);
  const layerNames = topologyLayerNames(topology);
  const weights: NamedWeights = new Map();
  const seen = new Set<string>();
  for (const [g, group] of groups.entries()) {
    const entries = group.weights.map((w, i) => parseEntry(w, `weightsManifest[${g}].weights[${i}]`));
    const shards: Uint8Array[] = [];
    for (const shardPath of group.paths) shards.push(await loadShardOrThrow(shardPath, loadShard));
    const total = shards.reduce((n, s) => n + s.length, 0);
    const expected = entries.reduce((n, e) => n + shapeSize(e.shape) * STORED_BYTES[e.quantization?.dtype ?? e.dtype]!, 0);
    if (total !== expected) {
      throw new WeightsError(
        `Weights shards ${group.paths.join(', ')} hold ${total} bytes, the manifest describes ${expected}: ` +
          (total < expected ? 'truncated or missing shard' : 'wrong shard'),
      );
    }
    const data = new Uint8Array(total);
    let offset = 0;
    for (const shard of shards) {
      data.set(shard, offset);
      offset += shard.length;
    }
    offset = 0;
    for (const entry of entries) {
      if (seen.has(entry.name)) throw new WeightsError(`model.json: weight ${entry.name} appears twice`);
      seen.add(entry.name);
      const size = shapeSize(entry.shape) * STORED_BYTES[entry.quantization?.dtype ?? entry.dtype]!;
      const weight: NamedWeight = {
        name: entry.name,
        shape: [...entry.shape],
        values: decodeEntry(data.subarray(offset, offset + size), entry),
      };
      offset += size;
      const layer = layerOf(entry.name, layerNames);
      const list = weights.get(layer);
      if (list) list.push(weight);
      else weights.set(layer, [weight]);
    }
  }
  return weights;
}

export interface TfjsLayersModelFiles {
  modelJsonPath: string;
  shardPaths: string[];
}

/**
 * Writes `model` as a TensorFlow.js layers model into `dir`: model.json (topology and manifest, as
 * tfjs' `model.save` makes it) and one shard `group1-shard1of1.bin`. Weight names are tfjs'
 * original names (`conv1/conv/kernel`, no `_1` suffixes).
 */
export async function writeTfjsLayersModel(model: tf.LayersModel, dir: string): Promise<TfjsLayersModelFiles> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts?.weightSpecs || artifacts.weightData === undefined) throw new WeightsError('tfjs saved no weights');
  const shardName = 'group1-shard1of1.bin';
  const data = tf.io.CompositeArrayBuffer.join(artifacts.weightData);
  const modelJson = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: [{ paths: [shardName], weights: artifacts.weightSpecs }],
  };
  await fs.mkdir(dir, { recursive: true });
  const modelJsonPath = path.join(dir, 'model.json');
  const shardPath = path.join(dir, shardName);
  await fs.writeFile(shardPath, new Uint8Array(data));
  await fs.writeFile(modelJsonPath, JSON.stringify(modelJson));
  return { modelJsonPath, shardPaths: [shardPath] };
}
