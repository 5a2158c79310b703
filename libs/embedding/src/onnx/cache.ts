/**
 * Converted ONNX graphs on disk, keyed by model id (which names architecture and weights) and the
 * converter version. Each file has a `.sha256` sidecar: a cached graph that does not match it
 * (truncated, damaged, half-written by a crashed process) is rebuilt, never fed to ORT.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CONVERTER_VERSION } from './convert.js';

export type CacheOutcome = 'hit' | 'miss' | 'rebuilt' | 'uncached';

export interface CachedGraph {
  bytes: Uint8Array;
  /** Where it lives on disk; undefined when no cache directory was given. */
  file?: string;
  outcome: CacheOutcome;
  /** Why a cached file was not used (outcome 'rebuilt'). */
  reason?: string;
}

/** `densenet121:weights-ab12…` → `<cacheDir>/onnx/densenet121_weights-ab12…-<hash8>.c1.onnx`. */
export function onnxCacheFile(cacheDir: string, modelId: string): string {
  // The readable part is lossy (':' and '/' become '_'); the hash keeps distinct ids apart.
  const readable = modelId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100);
  const hash = createHash('sha256').update(modelId).digest('hex').slice(0, 8);
  return path.join(cacheDir, 'onnx', `${readable}-${hash}.c${CONVERTER_VERSION}.onnx`);
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Write to a unique temp name, then rename: readers (other workers starting at once) see all or nothing. */
async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (error) {
    await fs.rm(tmp, { force: true });
    throw error;
  }
}

async function readVerified(file: string): Promise<{ bytes?: Uint8Array; problem?: string }> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { problem: `cannot read ${file}: ${(error as Error).message}` };
  }
  const expected = await fs.readFile(`${file}.sha256`, 'utf8').then((s) => s.trim(), () => undefined);
  if (!expected) return { problem: `${file} has no checksum file (an interrupted write?)` };
  const actual = sha256(bytes);
  if (actual !== expected) return { problem: `${file} is damaged (sha256 ${actual.slice(0, 12)}…, expected ${expected.slice(0, 12)}…)` };
  return { bytes };
}

/**
 * The ONNX graph of `modelId`: from the cache when a verified copy is there, else from `build()`
 * (then stored). Conversion is deterministic, so two processes racing here write the same bytes.
 */
export async function cachedOnnxGraph(cacheDir: string | undefined, modelId: string, build: () => Promise<Uint8Array>): Promise<CachedGraph> {
  if (!cacheDir) return { bytes: await build(), outcome: 'uncached' };
  const file = onnxCacheFile(cacheDir, modelId);
  const found = await readVerified(file);
  if (found.bytes) return { bytes: found.bytes, file, outcome: 'hit' };

  const bytes = await build();
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    // Graph first, checksum second: a crash between the two leaves a graph without a checksum,
    // which the next start rebuilds.
    await fs.rm(`${file}.sha256`, { force: true });
    await writeAtomically(file, bytes);
    await writeAtomically(`${file}.sha256`, `${sha256(bytes)}\n`);
  } catch (error) {
    // A read-only or full disk costs a conversion per start, not the service.
    return { bytes, outcome: 'uncached', reason: `could not cache the ONNX graph at ${file}: ${(error as Error).message}` };
  }
  return found.problem ? { bytes, file, outcome: 'rebuilt', reason: found.problem } : { bytes, file, outcome: 'miss' };
}
