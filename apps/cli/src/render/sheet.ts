/**
 * The contact sheet of a search: the query on the left, a divider, then the k results in rank
 * order, each with its label and cosine distance written under it.
 */
import { Canvas, type Rgb, textHeight, tile } from './canvas.js';

export interface SheetResult {
  /** The result's picture; null when it could not be downloaded (a grey tile says so). */
  bytes: Uint8Array | null;
  label: string | null;
  distance: number;
}

export interface SheetLayout {
  width: number;
  height: number;
  tile: number;
  scale: number;
  /** Top of every tile. */
  tileY: number;
  /** Top of the caption under every tile. */
  captionY: number;
  captionHeight: number;
  queryX: number;
  dividerX: number;
  resultX: number[];
}

const MARGIN = 12;
const GAP = 12;
const DIVIDER = 36;

export function sheetLayout(k: number, tileSize = 160): SheetLayout {
  const scale = tileSize >= 120 ? 2 : 1;
  const line = textHeight(scale);
  const header = line + 3 * scale;
  const captionHeight = 2 * line + 9 * scale;
  const queryX = MARGIN;
  const dividerX = queryX + tileSize + Math.floor(DIVIDER / 2);
  const resultX = Array.from({ length: k }, (_, i) => queryX + tileSize + DIVIDER + i * (tileSize + GAP));
  const width = (k > 0 ? resultX[k - 1] + tileSize : queryX + tileSize) + MARGIN;
  const tileY = MARGIN + header;
  return { width, height: tileY + tileSize + captionHeight + MARGIN, tile: tileSize, scale, tileY, captionY: tileY + tileSize, captionHeight, queryX, dividerX, resultX };
}

const INK: Rgb = [20, 20, 20];
const MUTED: Rgb = [110, 110, 110];
const QUERY: Rgb = [25, 90, 200];

export function formatDistance(distance: number): string {
  return `d=${distance.toFixed(4)}`;
}

export async function contactSheet(query: { bytes: Uint8Array; name: string }, results: SheetResult[], tileSize = 160): Promise<Buffer> {
  const layout = sheetLayout(results.length, tileSize);
  const { scale, tileY, captionY } = layout;
  const line = textHeight(scale);
  const canvas = new Canvas(layout.width, layout.height);

  canvas.text(layout.queryX, MARGIN, 'query', QUERY, scale);
  canvas.blit(layout.queryX, tileY, await tile(query.bytes, tileSize), tileSize, tileSize);
  canvas.frame(layout.queryX - 2, tileY - 2, tileSize + 4, tileSize + 4, QUERY, 2);
  await canvas.anyTextCentred(layout.queryX, tileSize, captionY + 4 * scale, query.name, INK, scale);
  canvas.fill(layout.dividerX - 1, MARGIN, 2, layout.height - 2 * MARGIN, [190, 190, 190]);

  for (const [i, result] of results.entries()) {
    const x = layout.resultX[i];
    canvas.text(x, MARGIN, `#${i + 1}`, MUTED, scale);
    let pixels: Buffer | null = null;
    if (result.bytes) pixels = await tile(result.bytes, tileSize).catch(() => null);
    if (pixels) canvas.blit(x, tileY, pixels, tileSize, tileSize);
    else {
      canvas.fill(x, tileY, tileSize, tileSize, [200, 200, 200]);
      canvas.textCentred(x, tileSize, tileY + Math.floor((tileSize - line) / 2), 'no picture', MUTED, scale);
    }
    await canvas.anyTextCentred(x, tileSize, captionY + 4 * scale, result.label ?? '(no label)', result.label ? INK : MUTED, scale);
    canvas.textCentred(x, tileSize, captionY + 4 * scale + line + 3 * scale, formatDistance(result.distance), MUTED, scale);
  }
  return canvas.png();
}
