/** `lookalike search --query img.jpg --topk 3`: the nearest stored images, and a contact sheet. */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ApiClient } from '../client.js';
import { table, writeFileMaking } from '../format.js';
import { contactSheet } from '../render/sheet.js';

export interface SearchOptions {
  query: string;
  topk: number;
  collection?: string;
  out?: string;
  tile: number;
  json?: boolean;
}

export interface NeighborResult {
  image: { id: string; label: string | null; url: string | null; metadata: Record<string, unknown> | null };
  distance: number;
}

const SIMILAR = `query Similar($image: Upload!, $collection: String, $k: Int) {
  similarImages(image: $image, collection: $collection, k: $k) { image { id label url metadata } distance }
}`;

export async function runSearch(client: ApiClient, options: SearchOptions, out: NodeJS.WritableStream = process.stdout): Promise<NeighborResult[]> {
  const bytes = await fs.readFile(options.query);
  const { similarImages } = await client.upload<{ similarImages: NeighborResult[] }>(
    SIMILAR,
    { collection: options.collection ?? null, k: options.topk },
    { image: { bytes, name: path.basename(options.query) } },
  );
  if (options.json) out.write(`${JSON.stringify({ query: path.resolve(options.query), collection: options.collection ?? null, neighbors: similarImages }, null, 2)}\n`);
  else {
    const where = options.collection ? ` in "${options.collection}"` : '';
    out.write(`${similarImages.length} nearest of ${options.query}${where} (cosine distance, 0 = same direction):\n`);
    out.write(
      `${table(
        ['rank', 'distance', 'label', 'id', 'metadata'],
        similarImages.map((n, i) => [String(i + 1), n.distance.toFixed(4), n.image.label ?? '-', n.image.id, n.image.metadata ? JSON.stringify(n.image.metadata) : '']),
        [0, 1],
      )}\n`,
    );
  }
  if (options.out) {
    const pictures = await Promise.all(
      similarImages.map((n) => client.download([client.originalUrl(n.image.id), n.image.url]).catch(() => null)),
    );
    const png = await contactSheet(
      { bytes, name: path.basename(options.query) },
      similarImages.map((n, i) => ({ bytes: pictures[i], label: n.image.label, distance: n.distance })),
      options.tile,
    );
    await writeFileMaking(options.out, png);
    const missing = pictures.filter((p) => p === null).length;
    (options.json ? process.stderr : out).write(`Contact sheet written to ${options.out}${missing ? ` (${missing} picture(s) could not be downloaded)` : ''}\n`);
  }
  return similarImages;
}
