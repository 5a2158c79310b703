import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/** Who asked for the work in progress: the API request, and in a worker the job it became. */
export interface RequestContext {
  requestId?: string;
  jobId?: string;
  job?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `fn` with `context` as the current one, for everything it calls and awaits. */
export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}

export function currentRequestId(): string | undefined {
  return storage.getStore()?.requestId;
}

/** Header values we pass on as they are: what tracing systems and load balancers send. */
const SAFE_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's x-request-id when it is a sane id (no spaces, control characters or novels); otherwise a new UUID. */
export function requestIdFrom(header: unknown): string {
  const value = Array.isArray(header) ? header[0] : header;
  return typeof value === 'string' && SAFE_ID.test(value) ? value : randomUUID();
}
