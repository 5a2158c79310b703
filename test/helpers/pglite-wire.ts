/**
 * PGlite served over the Postgres wire protocol (pglite-socket) to several processes at once, for
 * tests of the production `pg` path. PGlite is one session, so pglite-socket queues the clients'
 * protocol messages and keeps a transaction's messages together. Two gaps in 0.2.17 broke that
 * under load (seen here: empty or foreign result rows, then a hang):
 * - an extended-protocol sequence (Parse, Bind, Describe, Execute … Sync) is queued message by
 *   message, so another client's messages ran in between and replaced its unnamed statement;
 * - a failed message left the queue marked busy for ever;
 * - a client that disconnected while its message ran left its transaction open, and the queue
 *   waiting for that client's next message for ever.
 * `startPgliteWire` keeps a client's sequence together until its Sync, frees the queue on error,
 * and rolls back what a departed client left open.
 */
import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  onData(data: Uint8Array): void;
  resolve(bytes: number): void;
  reject(error: unknown): void;
}

interface QueryQueue {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  db: PGlite;
  processQueue(): Promise<void>;
  clearTransactionIfNeeded(handlerId: number): Promise<void>;
}

// Parse, Bind, Describe, Execute, Close, Flush: a sequence goes on until Sync ('S').
const MID_SEQUENCE = new Set([0x50, 0x42, 0x44, 0x45, 0x43, 0x48]);

export async function startPgliteWire(db: PGlite, port: number, host = '127.0.0.1'): Promise<PGLiteSocketServer> {
  const server = new PGLiteSocketServer({ db, port, host, maxConnections: 128 });
  const q = (server as unknown as { queryQueue: QueryQueue }).queryQueue;
  let midSequence = false;
  // Clients that disconnected: one may go while its message runs, after pglite-socket's own cleanup
  // looked for its transaction (not yet begun, or not yet marked as its own).
  const gone = new Set<number>();
  q.processQueue = async function processQueue(this: QueryQueue) {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        let item: QueuedMessage | undefined;
        if (this.lastHandlerId !== null && (midSequence || this.db.isInTransaction())) {
          const index = this.queue.findIndex((m) => m.handlerId === this.lastHandlerId);
          if (index === -1) break; // wait for that client's next message
          item = this.queue.splice(index, 1)[0];
        } else {
          item = this.queue.shift()!;
        }
        let bytes = 0;
        try {
          await this.db.runExclusive(() => this.db.execProtocolRawStream(item!.message, { onRawData: (d: Uint8Array) => ((bytes += d.length), item!.onData(d)) }));
        } catch (error) {
          item.reject(error);
          continue;
        }
        if (gone.has(item.handlerId)) {
          // Its client is gone: nobody will send the rest of its sequence or transaction.
          if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
          this.lastHandlerId = null;
          midSequence = false;
          item.resolve(bytes);
          continue;
        }
        this.lastHandlerId = item.handlerId;
        midSequence = MID_SEQUENCE.has(item.message[0]);
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  };
  const clear = q.clearTransactionIfNeeded.bind(q);
  q.clearTransactionIfNeeded = async (handlerId: number) => {
    gone.add(handlerId);
    // A client gone half-way through a sequence must not hold the queue.
    if (q.lastHandlerId === handlerId) midSequence = false;
    await clear(handlerId);
    await q.processQueue();
  };
  await server.start();
  return server;
}

/**
 * Takes the database away as a crash would: every client connection is cut at once (pglite-socket's
 * own stop() ends them politely and waits for each, which never finishes while pools hold them).
 */
export async function stopPgliteWire(server: PGLiteSocketServer): Promise<void> {
  const handlers = (server as unknown as { handlers: Set<{ socket: { destroy(): void } | null }> }).handlers;
  for (const h of handlers) h.socket?.destroy();
  await server.stop();
}
