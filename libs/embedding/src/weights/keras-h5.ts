import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type H5Wasm from 'h5wasm/node';
import type { Group, OutputData } from 'h5wasm/node';
import { formatShape, shapeSize, shortWeightName, WeightsError, type NamedWeight, type NamedWeights } from './types.js';

type H5Module = Awaited<typeof H5Wasm.ready>;

/**
 * h5wasm, loaded on first use: importing it costs hundreds of MB and seconds per process and per
 * model thread, which only a process that reads or writes an .h5 file should pay. Every function
 * below that touches `h5wasm` runs after `loadH5wasm()`.
 */
let h5wasm: typeof H5Wasm;
async function loadH5wasm(): Promise<H5Module> {
  h5wasm ??= (await import('h5wasm/node')).default;
  return h5wasm.ready;
}

/** Keras 2 splits a string-list attribute into `name0`, `name1`, … above this many bytes (saving.py). */
const HDF5_OBJECT_HEADER_LIMIT = 64512;
const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Runs `fn` with h5wasm's throwing error handler: HDF5 failures become JS errors carrying the
 * HDF5-DIAG trace instead of being printed to stderr while the call returns -1. The handler is
 * global to the wasm module, so it is switched off again before returning (`fn` is synchronous,
 * so nothing else runs in between).
 */
function withHdf5Errors<T>(module: H5Module, fn: () => T): T {
  module.activate_throwing_error_handler();
  try {
    return fn();
  } finally {
    module.deactivate_throwing_error_handler();
  }
}

/** The innermost message of an HDF5-DIAG trace ("truncated file: eof = …"), else the message. */
function hdf5Reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const frames = [...message.matchAll(/#\d+:.* in [\w.]+\(\): (.*)$/gm)];
  const last = frames.at(-1)?.[1]?.trim();
  return last || message.split('\n')[0]!.trim();
}

/** HDF5 puts its signature at 0, 512, 1024, 2048, … (after an optional user block). */
function hasHdf5Signature(bytes: Uint8Array): boolean {
  for (let offset = 0; offset + HDF5_SIGNATURE.length <= bytes.length; offset = offset === 0 ? 512 : offset * 2) {
    if (HDF5_SIGNATURE.every((b, i) => bytes[offset + i] === b)) return true;
  }
  return false;
}

function decodeString(value: unknown, where: string): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (value instanceof Uint8Array || value instanceof Int8Array) text = new TextDecoder().decode(value);
  else throw new WeightsError(`${where} is not a list of strings (found ${typeof value === 'object' ? value?.constructor?.name : typeof value})`);
  // Fixed-length strings come NUL-padded (h5py) or space-padded (FORTRAN-style).
  return text.replace(/[\0 ]+$/, '');
}

/** A string-list attribute as Keras writes it: fixed- or variable-length strings; empty float64 array for []. */
function toStringList(value: OutputData | null, where: string): string[] {
  if (value === null) return [];
  if (typeof value === 'string') return [decodeString(value, where)];
  if (Array.isArray(value)) return value.map((v, i) => decodeString(v, `${where}[${i}]`));
  if (ArrayBuffer.isView(value) && value.length === 0) return [];
  if (value instanceof Uint8Array) return [decodeString(value, where)];
  throw new WeightsError(`${where} is not a list of strings`);
}

/** Keras' load_attributes_from_hdf5_group: `name`, or the chunks `name0`, `name1`, …; undefined if absent. */
function readStringListAttribute(group: Group, name: string): string[] | undefined {
  const attrs = group.attrs;
  const where = (n: string) => `attribute ${n} of ${group.path}`;
  if (attrs[name]) return toStringList(attrs[name].value, where(name));
  if (!attrs[`${name}0`]) return undefined;
  const out: string[] = [];
  for (let i = 0; attrs[`${name}${i}`]; i++) out.push(...toStringList(attrs[`${name}${i}`]!.value, where(`${name}${i}`)));
  return out;
}

function readDataset(layerGroup: Group, weightName: string): NamedWeight {
  const where = `${layerGroup.path}/${weightName}`;
  const entity = layerGroup.get(weightName);
  if (!(entity instanceof h5wasm.Dataset)) {
    throw new WeightsError(`The weights file lists weight ${weightName} but has no dataset ${where}`);
  }
  const { shape, metadata } = entity;
  if (shape === null) throw new WeightsError(`Dataset ${where} is empty (null dataspace)`);
  // h5wasm's metadata.type: 1 = H5T_FLOAT.
  if (metadata.type !== 1 || (metadata.size !== 4 && metadata.size !== 8)) {
    throw new WeightsError(`Dataset ${where} has dtype ${String(entity.dtype)}, expected float32`);
  }
  if (!metadata.littleEndian) throw new WeightsError(`Dataset ${where} is big-endian, which is not supported`);
  const raw = entity.value;
  const values = raw instanceof Float32Array ? raw : raw instanceof Float64Array ? Float32Array.from(raw) : null;
  if (values === null) throw new WeightsError(`Dataset ${where} could not be read as floats`);
  if (values.length !== shapeSize(shape)) {
    throw new WeightsError(`Dataset ${where} has ${values.length} values for shape ${formatShape(shape)}`);
  }
  return { name: weightName, shape: [...shape], values };
}

function readWeightsGroup(file: Group): NamedWeights {
  let root: Group = file;
  let layerNames = readStringListAttribute(root, 'layer_names');
  if (layerNames === undefined) {
    // A whole-model file (model.save) keeps the weights one level down.
    const nested = file.get('model_weights');
    if (nested instanceof h5wasm.Group) {
      root = nested;
      layerNames = readStringListAttribute(root, 'layer_names');
    }
  }
  if (layerNames === undefined) {
    throw new WeightsError('Not a Keras weights file: the HDF5 file has no layer_names attribute (nor a model_weights group with one)');
  }
  const weights: NamedWeights = new Map();
  for (const layerName of layerNames) {
    if (weights.has(layerName)) throw new WeightsError(`The weights file lists layer ${layerName} twice in layer_names`);
    const group = root.get(layerName);
    if (!(group instanceof h5wasm.Group)) {
      throw new WeightsError(`The weights file lists layer ${layerName} in layer_names but has no group for it`);
    }
    const weightNames = readStringListAttribute(group, 'weight_names') ?? [];
    weights.set(layerName, weightNames.map((weightName) => readDataset(group, weightName)));
  }
  return weights;
}

/**
 * Reads a Keras 2 `save_weights` HDF5 file (also a whole-model `model.save` file, from its
 * `model_weights` group): layers in `layer_names` order, each layer's weights in its `weight_names`
 * order (never in the alphabetical order the group lists them in). Throws WeightsError for bytes
 * that are not HDF5, a truncated or damaged file, or a file that is not laid out as Keras does.
 */
export async function readKerasH5Weights(bytes: Uint8Array): Promise<NamedWeights> {
  if (!hasHdf5Signature(bytes)) {
    throw new WeightsError(`Not an HDF5 file: no HDF5 signature in ${bytes.length} bytes`);
  }
  const module = await loadH5wasm();
  // The Node build of h5wasm reads the host file system (NODERAWFS), so the bytes go to a temp file.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'keras-h5-'));
  const file = path.join(dir, `${randomUUID()}.h5`);
  try {
    await fs.writeFile(file, bytes);
    return withHdf5Errors(module, () => {
      let h5: InstanceType<typeof h5wasm.File>;
      try {
        h5 = new h5wasm.File(file, 'r');
      } catch (error) {
        const reason = hdf5Reason(error);
        const what = /truncated/i.test(reason) ? 'The HDF5 file is truncated' : 'Could not open the HDF5 file';
        throw new WeightsError(`${what} (${bytes.length} bytes): ${reason}`, undefined, { cause: error });
      }
      try {
        return readWeightsGroup(h5);
      } catch (error) {
        if (error instanceof WeightsError) throw error;
        throw new WeightsError(`The HDF5 file is damaged or unreadable: ${hdf5Reason(error)}`, undefined, { cause: error });
      } finally {
        try {
          h5.close();
        } catch {
          // Closing a damaged file can fail too; the error that matters is already on its way.
        }
      }
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** The model's weights named as Keras 2 names them (`conv1/conv/kernel:0`), every layer listed, weightless ones with []. */
export function kerasNamedWeights(model: tf.LayersModel): NamedWeights {
  const weights: NamedWeights = new Map();
  for (const layer of model.layers) {
    const values = layer.getWeights(); // The variables' own tensors: read, never dispose.
    weights.set(
      layer.name,
      layer.weights.map((variable, i) => {
        if (variable.dtype !== 'float32') {
          throw new WeightsError(`${layer.name}: weight ${variable.originalName} is ${variable.dtype}, only float32 can be written`);
        }
        return {
          name: `${layer.name}/${shortWeightName(variable.originalName)}:0`,
          shape: [...variable.shape] as number[],
          values: Float32Array.from(values[i]!.dataSync() as Float32Array),
        };
      }),
    );
  }
  return weights;
}

function ensureGroup(parent: Group, relativePath: string): Group {
  let group = parent;
  for (const part of relativePath.split('/').filter(Boolean)) {
    const existing = group.get(part);
    if (existing === null) group = group.create_group(part);
    else if (existing instanceof h5wasm.Group) group = existing;
    else throw new WeightsError(`Cannot create group ${group.path}/${part}: something else has that name`);
  }
  return group;
}

function stringDtype(values: readonly string[], strings: 'fixed' | 'variable'): string {
  if (strings === 'variable') return 'S';
  const encoder = new TextEncoder();
  const size = Math.max(1, ...values.map((v) => encoder.encode(v).length));
  // 'A' = ASCII with NUL padding, as h5py stores numpy bytes; 'S' is UTF-8.
  return values.every((v) => /^[\x20-\x7e]*$/.test(v)) ? `A${size}` : `S${size}`;
}

/** Keras' save_attributes_to_hdf5_group: one attribute, or `name0`, `name1`, … when it would not fit an object header. */
function writeStringListAttribute(group: Group, name: string, values: readonly string[], strings: 'fixed' | 'variable'): void {
  if (values.length === 0) {
    group.create_attribute(name, new Float64Array(0), [0], '<d'); // np.asarray([]) is float64
    return;
  }
  const size = Math.max(1, ...values.map((v) => new TextEncoder().encode(v).length));
  let chunks = 1;
  while (Math.ceil(values.length / chunks) * size > HDF5_OBJECT_HEADER_LIMIT) chunks++;
  if (chunks === 1) {
    group.create_attribute(name, [...values], null, stringDtype(values, strings));
    return;
  }
  const per = Math.ceil(values.length / chunks);
  for (let c = 0; c * per < values.length; c++) {
    const chunk = values.slice(c * per, (c + 1) * per);
    group.create_attribute(`${name}${c}`, [...chunk], null, stringDtype(values, strings));
  }
}

export interface KerasH5WriteOptions {
  /** 'fixed' (default) as old h5py wrote them, 'variable' as h5py ≥ 3 does. */
  strings?: 'fixed' | 'variable';
  /** Put the weights under this group (`model_weights` in a whole-model file) instead of the root. */
  rootGroup?: string;
  /** Root attribute `keras_version`; default '2.2.4'. */
  kerasVersion?: string;
}

/**
 * Writes `weights` in Keras 2's `save_weights` layout: root attributes `layer_names` (every key of
 * `weights`, in order), `backend`, `keras_version`; one group per layer (a `/` in a name nests
 * groups) with attribute `weight_names`; datasets at `<layer>/<weight name>`, float32.
 */
export async function writeKerasH5(weights: NamedWeights, filePath: string, options: KerasH5WriteOptions = {}): Promise<void> {
  const strings = options.strings ?? 'fixed';
  const module = await loadH5wasm();
  withHdf5Errors(module, () => {
    let file: InstanceType<typeof h5wasm.File>;
    try {
      file = new h5wasm.File(filePath, 'w');
    } catch (error) {
      throw new WeightsError(`Could not create ${filePath}: ${hdf5Reason(error)}`, undefined, { cause: error });
    }
    try {
      const root = options.rootGroup ? ensureGroup(file, options.rootGroup) : file;
      writeStringListAttribute(root, 'layer_names', [...weights.keys()], strings);
      const scalar = (name: string, value: string) =>
        root.create_attribute(name, value, null, strings === 'variable' ? 'S' : `A${value.length}`);
      scalar('backend', 'tensorflow');
      scalar('keras_version', options.kerasVersion ?? '2.2.4');
      for (const [layerName, layerWeights] of weights) {
        const group = ensureGroup(root, layerName);
        writeStringListAttribute(group, 'weight_names', layerWeights.map((w) => w.name), strings);
        for (const w of layerWeights) {
          if (w.values.length !== shapeSize(w.shape)) {
            throw new WeightsError(`${layerName}: ${w.values.length} values for shape ${formatShape(w.shape)} of ${w.name}`);
          }
          const slash = w.name.lastIndexOf('/');
          const parent = slash > 0 ? ensureGroup(group, w.name.slice(0, slash)) : group;
          parent.create_dataset({ name: w.name.slice(slash + 1), data: w.values, shape: w.shape, dtype: '<f' });
        }
      }
    } catch (error) {
      if (error instanceof WeightsError) throw error;
      throw new WeightsError(`Could not write ${filePath}: ${hdf5Reason(error)}`, undefined, { cause: error });
    } finally {
      file.close();
    }
  });
}

/** Writes the model's weights as Keras 2 `model.save_weights('….h5')` would (see writeKerasH5). */
export async function writeKerasH5Weights(model: tf.LayersModel, filePath: string, options: KerasH5WriteOptions = {}): Promise<void> {
  await writeKerasH5(kerasNamedWeights(model), filePath, options);
}
