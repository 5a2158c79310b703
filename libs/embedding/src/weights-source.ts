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
