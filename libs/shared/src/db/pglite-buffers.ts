// PGLITE_SHARED_BUFFERS=auto: the embedded PGlite's buffer cache sized, at start, to the HNSW
// indexes it already holds. A page missing from the cache is read through JavaScript, and an HNSW
// scan reads thousands: at 100k vectors (781 MiB of index) a search takes about twice as long at
// PGlite's 128MB as with the index held (bench:load). shared_buffers is fixed when Postgres
// starts, so growing it means opening the database again.
import { PGliteClient } from './pglite-client.js';
import { hnswIndexAndBufferBytes, toMiB } from './vector-index.js';

/** PGlite's own shared_buffers: what `auto` starts with and keeps while the indexes fit. */
export const PGLITE_AUTO_FLOOR_MB = 128;
/**
 * The most `auto` chooses. PGlite has 2 GiB of memory in all; with 1GB of buffers, a 100k-vector
 * search run (the index built in the same process) used 1575 MiB of it. A larger explicit
 * setting, up to config's PGLITE_SHARED_BUFFERS_MAX_MB, is the operator's choice.
 */
export const PGLITE_AUTO_MAX_MB = 1024;

/** MB of shared_buffers for `indexBytes` of HNSW index, a quarter to spare for growth, within [floorMB, PGLITE_AUTO_MAX_MB]. */
export function sharedBuffersToHold(indexBytes: number, floorMB = PGLITE_AUTO_FLOOR_MB): number {
  return Math.min(Math.max(Math.ceil((indexBytes * 1.25) / 2 ** 20), floorMB), Math.max(floorMB, PGLITE_AUTO_MAX_MB));
}

export interface SizedPGlite {
  client: PGliteClient;
  sharedBuffersMB: number;
  indexesMiB: number;
  /** The size it was first opened with, when the indexes outgrew it and it was opened again. */
  grownFromMB: number | null;
}

/**
 * Opens PGlite under `dataDir` with `floorMB` of buffers; when the HNSW indexes stored there are
 * larger, closes it and opens it again with room for them. The process's memory grows by as much:
 * PGlite allocates the whole cache at start.
 */
export async function openPGliteSizedForIndexes(dataDir: string, floorMB = PGLITE_AUTO_FLOOR_MB): Promise<SizedPGlite> {
  const first = await PGliteClient.open(dataDir, { sharedBuffers: `${floorMB}MB` });
  let indexBytes: number;
  try {
    indexBytes = (await hnswIndexAndBufferBytes(first)).indexBytes;
  } catch (error) {
    await first.close();
    throw error;
  }
  const indexesMiB = toMiB(indexBytes);
  const sharedBuffersMB = sharedBuffersToHold(indexBytes, floorMB);
  if (sharedBuffersMB === floorMB) return { client: first, sharedBuffersMB, indexesMiB, grownFromMB: null };
  await first.close();
  const client = await PGliteClient.open(dataDir, { sharedBuffers: `${sharedBuffersMB}MB` });
  return { client, sharedBuffersMB, indexesMiB, grownFromMB: floorMB };
}
