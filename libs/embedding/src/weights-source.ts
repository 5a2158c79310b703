import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/** The official Keras file, as keras/src/applications/densenet.py names and pins it. */
export const KERAS_DENSENET121_NOTOP = Object.freeze({
  fileName: 'densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5',
  url: 'https://storage.googleapis.com/tensorflow/keras-applications/densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5',
  /** Keras' `file_hash`: 32 hex digits, which `get_file` reads as md5. */
  md5: '30ee3e1110167f948a6b9946edeeb738',
  sizeBytes: 29_084_464,
});

export interface ExpectedFile {
  fileName: string;
  url: string;
  md5: string;
  sizeBytes?: number;
}

export class WeightsSourceError extends Error {
  override readonly name = 'WeightsSourceError';
}

export function md5Hex(bytes: Uint8Array): string {
  return createHash('md5').update(bytes).digest('hex');
}

/**
 * Downloads `expected.url` into `cacheDir`, checking size and md5 before the file is kept (written
 * to a temporary name, renamed only when whole), and returns its path. A file already cached and
 * whole is used as it is.
 */
export async function fetchVerified(
  expected: ExpectedFile,
  cacheDir: string,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const target = path.join(cacheDir, expected.fileName);
  const cached = await fs.readFile(target).catch(() => null);
  if (cached && md5Hex(cached) === expected.md5) return target;
  await fs.mkdir(cacheDir, { recursive: true });
  let response: Response;
  try {
    response = await fetchImpl(expected.url);
  } catch (error) {
    throw new WeightsSourceError(`Could not download ${expected.url}: ${(error as Error).message}`);
  }
  if (!response.ok) throw new WeightsSourceError(`Could not download ${expected.url}: HTTP ${response.status}`);
  let bytes: Buffer;
  try {
    bytes = Buffer.from(await response.arrayBuffer());
  } catch (error) {
    throw new WeightsSourceError(`The download of ${expected.url} broke off: ${(error as Error).message}`);
  }
  if (expected.sizeBytes !== undefined && bytes.length !== expected.sizeBytes) {
    throw new WeightsSourceError(
      `The download of ${expected.url} is incomplete or wrong: ${bytes.length} bytes, expected ${expected.sizeBytes}.`,
    );
  }
  const digest = md5Hex(bytes);
  if (digest !== expected.md5) {
    throw new WeightsSourceError(`The download of ${expected.url} has md5 ${digest}, expected ${expected.md5}: not kept.`);
  }
  const tmp = `${target}.${randomUUID()}.part`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, target);
  return target;
}

/** Where to put the file by hand on a machine without internet. */
export function offlineInstructions(expected: ExpectedFile, cacheDir: string): string {
  return [
    `Download ${expected.url}`,
    `(md5 ${expected.md5}${expected.sizeBytes ? `, ${expected.sizeBytes} bytes` : ''}) on a machine with internet and copy it to`,
    `  ${path.join(cacheDir, expected.fileName)}`,
    'or point MODEL_WEIGHTS at it (a path, an http(s) URL).',
  ].join('\n');
}

export interface WeightsResolution {
  /** A local file to load, or undefined for the seeded random weights. */
  file?: string;
  /** Why random weights are used, when they are; for a loud start-up warning. */
  warning?: string;
}

/**
 * `MODEL_WEIGHTS` to a local file: `random`; a path; an http(s) URL (downloaded once into the cache);
 * unset: for DenseNet121 the official Keras file, fetched and verified on first start and cached.
 * Offline with nothing cached, the answer is random weights and a warning that says how to fix it.
 */
export async function resolveWeightsFile(options: {
  spec?: string;
  preset: string;
  cacheDir: string;
  fetchImpl?: typeof fetch;
}): Promise<WeightsResolution> {
  const { spec, preset, cacheDir } = options;
  if (spec === 'random') return {};
  if (spec === undefined) {
    if (preset !== 'densenet121') return {};
    try {
      return { file: await fetchVerified(KERAS_DENSENET121_NOTOP, cacheDir, options.fetchImpl) };
    } catch (error) {
      return {
        warning: `No DenseNet121 weights: ${(error as Error).message}\nRunning RANDOM weights instead.\n${offlineInstructions(KERAS_DENSENET121_NOTOP, cacheDir)}`,
      };
    }
  }
  if (/^https?:\/\//.test(spec)) {
    const url = new URL(spec);
    const fileName = `url-${createHash('sha256').update(spec).digest('hex').slice(0, 12)}-${path.basename(url.pathname) || 'weights.h5'}`;
    const target = path.join(cacheDir, fileName);
    if (await fs.access(target).then(() => true, () => false)) return { file: target };
    const response = await (options.fetchImpl ?? fetch)(spec).catch((error: Error) => {
      throw new WeightsSourceError(`Could not download MODEL_WEIGHTS ${spec}: ${error.message}`);
    });
    if (!response.ok) throw new WeightsSourceError(`Could not download MODEL_WEIGHTS ${spec}: HTTP ${response.status}`);
    const bytes = Buffer.from(await response.arrayBuffer());
    await fs.mkdir(cacheDir, { recursive: true });
    const tmp = `${target}.${randomUUID()}.part`;
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, target);
    return { file: target };
  }
  const file = path.resolve(spec);
  if (!(await fs.access(file).then(() => true, () => false))) {
    throw new WeightsSourceError(`MODEL_WEIGHTS points at ${file}, which does not exist.`);
  }
  return { file };
}
