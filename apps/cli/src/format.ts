/** Plain-text output helpers: aligned tables, percentages, option parsing. */
import fs from 'node:fs/promises';
import path from 'node:path';

/** Width of a string in terminal columns (East Asian wide characters count two). */
function columns(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    n += (c >= 0x1100 && c <= 0x115f) || (c >= 0x2e80 && c <= 0xa4cf) || (c >= 0xac00 && c <= 0xd7a3) || (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff00 && c <= 0xff60) ? 2 : 1;
  }
  return n;
}

/** Rows as aligned columns, two spaces apart, the header first; numbers can be right-aligned. */
export function table(header: string[], rows: string[][], rightAligned: number[] = []): string {
  const widths = header.map((h, i) => Math.max(columns(h), ...rows.map((r) => columns(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i] - columns(c ?? '')));
        return rightAligned.includes(i) ? pad + c : i === cells.length - 1 ? c : c + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

export function parsePositiveInt(name: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, not "${value}".`);
    return n;
  };
}

export function parseIntList(name: string, min = 1, max = 100) {
  return (value: string): number[] => {
    const parts = value.split(',').map((p) => p.trim()).filter(Boolean);
    if (parts.length === 0) throw new Error(`${name} needs at least one number, e.g. 1,5.`);
    return [...new Set(parts.map(parsePositiveInt(name, min, max)))];
  };
}

export function parseFloatIn(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new Error(`${name} must be a number from ${min} to ${max}, not "${value}".`);
    return n;
  };
}

export type Where = Record<string, string | number | boolean>;

/**
 * One `--where` condition added to the others: `key=value` compares the text value;
 * `key:=json` a JSON value (`size:=3`, `ok:=true`).
 */
export function parseWhere(value: string, previous: Where = {}): Where {
  const json = /^([^=:]+):=(.*)$/.exec(value);
  if (json) {
    let v: unknown;
    try {
      v = JSON.parse(json[2]);
    } catch {
      throw new Error(`--where ${value}: "${json[2]}" is not JSON.`);
    }
    if (!['string', 'number', 'boolean'].includes(typeof v)) throw new Error(`--where ${value}: the value must be a string, number or boolean.`);
    return { ...previous, [json[1].trim()]: v as string | number | boolean };
  }
  const text = /^([^=]+)=(.*)$/.exec(value);
  if (!text || !text[1].trim()) throw new Error(`--where takes key=value (or key:=json), not "${value}".`);
  return { ...previous, [text[1].trim()]: text[2] };
}

export function parseVote(value: string): 'MAJORITY' | 'SIMILARITY' {
  const v = value.trim().toUpperCase();
  if (v !== 'MAJORITY' && v !== 'SIMILARITY') throw new Error(`--vote must be majority or similarity, not "${value}".`);
  return v;
}

export async function writeFileMaking(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await fs.writeFile(file, data);
}
