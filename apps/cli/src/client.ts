/**
 * A small GraphQL client of the Lookalike API: queries and mutations over HTTP (JSON, or the
 * GraphQL multipart request spec for uploads) and subscriptions over graphql-ws.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

export const DEFAULT_API = 'http://127.0.0.1:4000';

/** Raised for an answer with GraphQL errors, an HTTP failure, or an unreachable API. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface UploadFile {
  bytes: Uint8Array;
  name: string;
}

/** --api, else LOOKALIKE_API, else the default; without a trailing slash or /graphql. */
export function resolveApiUrl(option?: string, env: NodeJS.ProcessEnv = process.env): string {
  const raw = (option ?? env.LOOKALIKE_API ?? '').trim() || DEFAULT_API;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ApiError(`Invalid API URL "${raw}": expected something like ${DEFAULT_API}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiError(`Invalid API URL "${raw}": use http:// or https://.`);
  return url.toString().replace(/\/+$/, '').replace(/\/graphql$/, '');
}

/** The reason a fetch failed, in words a user can act on. */
function networkReason(error: unknown, url: string): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  if (error instanceof Error && error.name === 'TimeoutError') return `no answer from ${url} in time`;
  return `cannot reach the API at ${url} (${detail})`;
}

export class ApiClient {
  readonly endpoint: string;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 120_000,
  ) {
    this.endpoint = `${baseUrl}/graphql`;
  }

  /** A query or mutation with JSON variables; resolves with `data` or throws the first error. */
  async request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return this.send<T>({
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query, variables }),
    });
  }

  /**
   * A query or mutation whose variables include files (the GraphQL multipart request spec, as
   * `curl -F` sends it): each key of `files` is a variable name holding one Upload.
   */
  async upload<T>(query: string, variables: Record<string, unknown>, files: Record<string, UploadFile>): Promise<T> {
    const form = new FormData();
    const names = Object.keys(files);
    form.append('operations', JSON.stringify({ query, variables: { ...variables, ...Object.fromEntries(names.map((n) => [n, null])) } }));
    form.append('map', JSON.stringify(Object.fromEntries(names.map((n, i) => [String(i), [`variables.${n}`]]))));
    names.forEach((n, i) => form.append(String(i), new Blob([files[n].bytes]), files[n].name));
    // Apollo's CSRF prevention lets a multipart request through only with this header.
    return this.send<T>({ method: 'POST', headers: { 'apollo-require-preflight': 'true' }, body: form });
  }

  private async send<T>(init: RequestInit): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.endpoint, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      throw new ApiError(networkReason(error, this.baseUrl), 'NETWORK');
    }
    const text = await res.text();
    let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] } | undefined;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(`HTTP ${res.status} from ${this.endpoint}: ${text.slice(0, 200) || res.statusText}`, 'HTTP');
    }
    if (body?.errors?.length) {
      const first = body.errors[0];
      throw new ApiError(first.message, first.extensions?.code);
    }
    if (!res.ok || body?.data == null) throw new ApiError(`HTTP ${res.status} from ${this.endpoint} without data`, 'HTTP');
    return body.data;
  }

  /** GETs a file the API serves (an original), trying each URL in turn. */
  async download(urls: (string | null | undefined)[]): Promise<Buffer> {
    let last: unknown = new Error('no URL');
    for (const url of [...new Set(urls.filter((u): u is string => !!u))]) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs) });
        if (!res.ok) throw new Error(`HTTP ${res.status} from ${url}`);
        return Buffer.from(await res.arrayBuffer());
      } catch (error) {
        last = error;
      }
    }
    throw last;
  }

  /** Where the API serves an image's original, as this client reaches the API. */
  originalUrl(imageId: string): string {
    return `${this.baseUrl}/images/${encodeURIComponent(imageId)}/original`;
  }

  /**
   * Runs a subscription over graphql-ws, calling `onNext` with each result's data, until the server
   * completes it or `onNext` returns true (then it is disposed). Rejects on an error.
   */
  subscribe<T>(query: string, variables: Record<string, unknown>, onNext: (data: T) => boolean | void): Promise<void> {
    const client = createClient({ url: this.endpoint.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (error?: unknown) => {
        if (settled) return;
        settled = true;
        dispose();
        void client.dispose();
        if (error === undefined) resolve();
        else reject(error);
      };
      const dispose = client.subscribe<T>(
        { query, variables },
        {
          next: (value) => {
            if (value.errors?.length) return finish(new ApiError(value.errors[0].message));
            try {
              if (onNext(value.data as T) === true) finish();
            } catch (error) {
              finish(error);
            }
          },
          error: (error) => {
            if (Array.isArray(error)) return finish(new ApiError((error[0] as { message?: string })?.message ?? 'subscription failed'));
            if (error instanceof Error) return finish(new ApiError(networkReason(error, this.baseUrl), 'NETWORK'));
            const event = error as { code?: number; reason?: string; type?: string };
            finish(new ApiError(`subscription closed: ${event.reason || event.code || event.type || 'unknown reason'}`, 'NETWORK'));
          },
          complete: () => finish(),
        },
      );
    });
  }
}
