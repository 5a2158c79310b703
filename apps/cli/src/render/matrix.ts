/**
 * A confusion matrix as a picture: true labels down the left, predicted labels across the top,
 * each cell the count, shaded by its share of the row. As SVG (text, for any viewer) and as PNG
 * (drawn with the built-in font, so no system font is needed).
 */
import { Canvas, fitText, type Rgb, textHeight, textWidth } from './canvas.js';

export interface Confusion {
  labels: string[];
  predicted: string[];
  matrix: number[][];
}

const LOW: Rgb = [247, 251, 255];
const HIGH: Rgb = [8, 69, 148];
const MAX_LABEL_CHARS = 24;

/** The colour of a cell whose share of its row is `share` (0..1). */
export function shade(share: number): Rgb {
  const t = Math.max(0, Math.min(1, share));
  return [0, 1, 2].map((c) => Math.round(LOW[c] + (HIGH[c] - LOW[c]) * t)) as unknown as Rgb;
}

function shares(c: Confusion): number[][] {
  return c.matrix.map((row) => {
    const total = row.reduce((a, b) => a + b, 0);
    return row.map((v) => (total > 0 ? v / total : 0));
  });
}

const cut = (s: string) => ([...s].length > MAX_LABEL_CHARS ? `${[...s].slice(0, MAX_LABEL_CHARS - 2).join('')}..` : s);

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function confusionSvg(c: Confusion, title: string): string {
  const cell = 44;
  const font = 13;
  const charW = font * 0.62;
  const left = Math.ceil(Math.max(60, ...c.labels.map((l) => cut(l).length * charW)) + 40);
  const top = Math.ceil(Math.max(60, ...c.predicted.map((l) => cut(l).length * charW)) + 56);
  const width = Math.ceil(Math.max(left + c.predicted.length * cell + 20, 20 + title.length * (font + 2) * 0.62));
  const height = top + c.labels.length * cell + 20;
  const s = shares(c);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="${font}">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="10" y="20" font-size="${font + 2}" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="${left}" y="40" fill="#555">predicted →</text>`);
  out.push(`<text transform="translate(18 ${top}) rotate(-90)" text-anchor="end" fill="#555">true →</text>`);
  c.predicted.forEach((p, j) => {
    const x = left + j * cell + cell / 2 + font / 3;
    out.push(`<text class="predicted" transform="translate(${x} ${top - 6}) rotate(-90)">${escapeXml(cut(p))}</text>`);
  });
  c.labels.forEach((l, i) => {
    const y = top + i * cell + cell / 2 + font / 3;
    out.push(`<text class="label" x="${left - 6}" y="${y}" text-anchor="end">${escapeXml(cut(l))}</text>`);
    c.matrix[i].forEach((v, j) => {
      const [r, g, b] = shade(s[i][j]);
      const x = left + j * cell;
      const yy = top + i * cell;
      out.push(`<rect class="cell" data-row="${i}" data-col="${j}" x="${x}" y="${yy}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})" stroke="#ccc"/>`);
      out.push(`<text x="${x + cell / 2}" y="${yy + cell / 2 + font / 3}" text-anchor="middle" fill="${s[i][j] > 0.5 ? '#fff' : '#000'}">${v}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface MatrixLayout {
  width: number;
  height: number;
  cell: number;
  left: number;
  top: number;
}

export function matrixLayout(c: Confusion, scale = 2): MatrixLayout {
  const maxCount = Math.max(0, ...c.matrix.flat());
  const cell = Math.max(18 * scale, textWidth(String(maxCount), scale) + 8 * scale);
  const left = Math.max(textWidth('true', scale), ...c.labels.map((l) => textWidth(cut(l), scale))) + 10 * scale;
  const top = textHeight(scale) * 3 + 12 * scale + Math.max(textWidth('x', scale), ...c.predicted.map((p) => textWidth(cut(p), scale)));
  const width = Math.max(left + c.predicted.length * cell + 6 * scale, textWidth('x'.repeat(40), scale));
  return { width, height: top + c.labels.length * cell + 6 * scale, cell, left, top };
}

export function confusionPng(c: Confusion, title: string, scale = 2): Promise<Buffer> {
  const { width, height, cell, left, top } = matrixLayout(c, scale);
  const canvas = new Canvas(width, height);
  const line = textHeight(scale);
  canvas.text(3 * scale, 3 * scale, fitText(title, width - 6 * scale, scale), [0, 0, 0], scale);
  canvas.text(left, 3 * scale + line + 3 * scale, 'predicted', [90, 90, 90], scale);
  canvas.text(3 * scale, top - line - 3 * scale, 'true', [90, 90, 90], scale);
  const s = shares(c);
  c.predicted.forEach((p, j) => canvas.textUp(left + j * cell + Math.floor((cell - line) / 2), top - 3 * scale, cut(p), [0, 0, 0], scale));
  c.labels.forEach((l, i) => {
    const y = top + i * cell;
    canvas.text(left - 6 * scale - textWidth(cut(l), scale), y + Math.floor((cell - line) / 2), cut(l), [0, 0, 0], scale);
    c.matrix[i].forEach((v, j) => {
      const x = left + j * cell;
      canvas.fill(x, y, cell, cell, shade(s[i][j]));
      canvas.frame(x, y, cell, cell, [200, 200, 200]);
      canvas.textCentred(x, cell, y + Math.floor((cell - line) / 2), String(v), s[i][j] > 0.5 ? [255, 255, 255] : [0, 0, 0], scale);
    });
  });
  return canvas.png();
}
