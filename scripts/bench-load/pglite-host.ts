// The database of the upload benchmark: PGlite (in memory, pgvector) served over the Postgres wire
// protocol by test/helpers/pglite-wire.ts, in a process of its own so that its CPU and memory are
// measured apart from the load generator.   Usage: node --import tsx pglite-host.ts PORT
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { startPgliteWire, stopPgliteWire } from '../../test/helpers/pglite-wire.js';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1) throw new Error('usage: pglite-host.ts PORT');
const db = await PGlite.create({ extensions: { vector } });
const server = await startPgliteWire(db, port);
console.log(`pglite-wire listening ${port}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await stopPgliteWire(server).catch(() => {});
  await db.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
// The benchmark gone (its stdout pipe closed): go too.
process.stdout.on('error', () => void stop());
