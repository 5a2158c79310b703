/**
 * `lookalike reembed --collection C [--wait]`: embeds every image of a collection again, and follows
 * it. `lookalike reembed --cancel ID`: stops a running one (rolls back a model switch).
 */
import type { ApiClient } from '../client.js';
import { createProgress } from '../progress.js';

export interface ReembedOptions {
  collection: string;
  wait: boolean;
  progress: boolean;
  json?: boolean;
}

export interface Reembedding {
  id: string;
  model: string;
  collection: string | null;
  state: 'RUNNING' | 'COMPLETE' | 'SUPERSEDED' | 'CANCELLED';
  total: number;
  done: number;
  failed: number;
}

const FIELDS = 'id model collection state total done failed';
const REEMBED = `mutation Reembed($collection: String!) { reembed(collection: $collection) { ${FIELDS} } }`;
const PROGRESS = `subscription Progress($id: ID!) { reembeddingProgress(id: $id) { ${FIELDS} } }`;
const CURRENT = `query Current($id: ID!) { reembedding(id: $id) { ${FIELDS} } }`;
const CANCEL = `mutation Cancel($id: ID!) { cancelReembedding(id: $id) { ${FIELDS} } }`;

export async function runCancelReembedding(client: ApiClient, id: string, options: { json?: boolean }, out: NodeJS.WritableStream = process.stdout): Promise<Reembedding> {
  const { cancelReembedding: r } = await client.request<{ cancelReembedding: Reembedding }>(CANCEL, { id });
  const what = r.collection === null ? `the switch to ${r.model} (the active model stays)` : `"${r.collection}" with ${r.model}`;
  out.write(options.json ? `${JSON.stringify(r, null, 2)}\n` : `Cancelled re-embedding ${r.id} of ${what} after ${r.done} of ${r.total} images.\n`);
  return r;
}

export async function runReembed(client: ApiClient, options: ReembedOptions, out: NodeJS.WritableStream = process.stdout): Promise<Reembedding> {
  const { reembed } = await client.request<{ reembed: Reembedding }>(REEMBED, { collection: options.collection });
  if (!options.json) out.write(`Re-embedding ${reembed.id} of "${options.collection}" with ${reembed.model}: ${reembed.total} images.\n`);
  let last = reembed;
  if (options.wait && reembed.state === 'RUNNING') {
    const started = Date.now();
    const progress = createProgress({ unit: 'images', extra: 'failed {failed}', enabled: options.progress });
    progress.start(reembed.total, { failed: reembed.failed });
    try {
      await client.subscribe<{ reembeddingProgress: Reembedding }>(PROGRESS, { id: reembed.id }, ({ reembeddingProgress: r }) => {
        last = r;
        progress.setTotal(r.total);
        progress.update(r.done, { failed: r.failed });
        return r.state !== 'RUNNING';
      });
    } finally {
      progress.stop();
    }
    // The stream ends when the re-embedding does; read the final counts once more to be sure.
    const { reembedding } = await client.request<{ reembedding: Reembedding | null }>(CURRENT, { id: reembed.id });
    if (reembedding) last = reembedding;
    if (!options.json) {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      out.write(`${last.state}: ${last.done} of ${last.total} images re-embedded, ${last.failed} failed, in ${seconds} s.\n`);
    }
  } else if (!options.json && reembed.state === 'RUNNING') {
    out.write(`Running in the background; its progress: query reembedding(id: "${reembed.id}") (or pass --wait next time).\n`);
  }
  if (options.json) out.write(`${JSON.stringify(last, null, 2)}\n`);
  return last;
}
