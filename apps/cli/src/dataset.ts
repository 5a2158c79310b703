/**
 * Reads a labelled dataset from disk into a list of files with their label and metadata:
 * - a folder with one subfolder per label (`bolt/a.jpg`, `nut/b.jpg`);
 * - a CSV manifest `path,label[,metadata columns...]` (paths relative to the CSV);
 * - annotation JSON in the AI Hub style (`images[].file_name`, `annotations[].attributes`),
 *   one file or a folder of them, with the pictures beside them or anywhere under the folder.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';

export type Metadata = Record<string, string | number | boolean>;

export interface DatasetItem {
  /** Absolute path of the picture. */
  file: string;
  /** How the item is named in messages: its path relative to the dataset. */
  name: string;
  label: string | null;
  metadata: Metadata | null;
}

export interface DatasetProblem {
  name: string;
  reason: string;
}

export type DatasetKind = 'folders' | 'csv' | 'annotations';

export interface Dataset {
  kind: DatasetKind;
  items: DatasetItem[];
  /** Entries that name no readable picture (a CSV row whose file is missing, say): failures of the import. */
  problems: DatasetProblem[];
}

/** Where labels come from: the folder a picture is in, an annotation attribute, or a CSV column. */
export type LabelFrom = { from: 'default' } | { from: 'folder' } | { from: 'annotation'; attribute: string } | { from: 'column'; column: string };

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif', '.heic', '.heif', '.bmp']);

export function parseLabelFrom(value: string | undefined): LabelFrom {
  if (value === undefined || value === '') return { from: 'default' };
  if (value === 'folder') return { from: 'folder' };
  const m = /^(annotation|column):(.+)$/.exec(value);
  if (m) return m[1] === 'annotation' ? { from: 'annotation', attribute: m[2] } : { from: 'column', column: m[2] };
  throw new Error(`--label-from must be "folder", "annotation:<attribute>" or "column:<name>", not "${value}".`);
}

const isImageFile = (name: string) => IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
const toPosix = (p: string) => p.split(path.sep).join('/');

/** Every file under `dir` (hidden files and folders left out), sorted, as absolute paths. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await fs.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** A metadata value as given: numbers and booleans of a CSV stay strings (what the user wrote). */
function metadataValue(value: unknown): string | number | boolean | undefined {
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  return JSON.stringify(value);
}

function nonEmpty(metadata: Metadata): Metadata | null {
  return Object.keys(metadata).length > 0 ? metadata : null;
}

export async function readDataset(source: string, labelFrom: LabelFrom = { from: 'default' }): Promise<Dataset> {
  const root = path.resolve(source);
  const stat = await fs.stat(root).catch(() => null);
  if (!stat) throw new Error(`${source}: no such file or folder.`);
  if (stat.isFile()) {
    const ext = path.extname(root).toLowerCase();
    if (ext === '.csv') return readCsv(root, labelFrom);
    if (ext === '.json') {
      // The pictures are beside the file or under its folder; else (AI Hub keeps labels and
      // pictures in sibling folders) under the folder above.
      const near = await readAnnotations([root], path.dirname(root), labelFrom);
      const above = path.dirname(path.dirname(root));
      if (!near.problems.some((p) => p.reason.startsWith('file not found')) || above === path.dirname(root) || above === path.parse(root).root) return near;
      return readAnnotations([root], above, labelFrom);
    }
    throw new Error(`${source}: give a folder, a .csv manifest or an annotation .json file.`);
  }
  const files = await walk(root);
  const jsons = files.filter((f) => path.extname(f).toLowerCase() === '.json');
  const annotationFiles: string[] = [];
  for (const file of jsons) if (await looksLikeAnnotation(file)) annotationFiles.push(file);
  if (annotationFiles.length > 0) return readAnnotations(annotationFiles, root, labelFrom, files);
  if (labelFrom.from === 'annotation') throw new Error(`${source}: --label-from ${labelFrom.from}:${labelFrom.attribute} needs annotation JSON files, and there are none.`);
  if (labelFrom.from === 'column') throw new Error(`${source}: --label-from column:${labelFrom.column} applies to a CSV manifest, not to a folder.`);
  return readFolders(root, files);
}

async function looksLikeAnnotation(file: string): Promise<boolean> {
  try {
    const json = JSON.parse(await fs.readFile(file, 'utf8'));
    return json !== null && typeof json === 'object' && 'images' in json;
  } catch {
    return false;
  }
}

/** One subfolder per label: the label is the first folder under the root; files at the root have none. */
function readFolders(root: string, files: string[]): Dataset {
  const items = files.filter(isImageFile).map((file): DatasetItem => {
    const rel = path.relative(root, file);
    const parts = rel.split(path.sep);
    return { file, name: toPosix(rel), label: parts.length > 1 ? parts[0] : null, metadata: null };
  });
  return { kind: 'folders', items, problems: [] };
}

async function readCsv(file: string, labelFrom: LabelFrom): Promise<Dataset> {
  if (labelFrom.from === 'annotation') throw new Error('--label-from annotation:... applies to annotation JSON, not to a CSV manifest.');
  const dir = path.dirname(file);
  const rows = parseCsv(await fs.readFile(file), { bom: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as string[][];
  if (rows.length === 0) return { kind: 'csv', items: [], problems: [] };
  // A header is optional; without one, columns after path,label are column3, column4, ...
  const hasHeader = rows[0][0]?.toLowerCase() === 'path' || rows[0][0]?.toLowerCase() === 'file';
  const header = hasHeader ? rows[0].map((h) => h.trim()) : rows[0].map((_, i) => (i === 0 ? 'path' : i === 1 ? 'label' : `column${i + 1}`));
  const labelColumn = labelFrom.from === 'column' ? header.indexOf(labelFrom.column) : 1;
  if (labelColumn < 0) throw new Error(`The manifest has no column "${(labelFrom as { column: string }).column}" (columns: ${header.join(', ')}).`);
  const items: DatasetItem[] = [];
  const problems: DatasetProblem[] = [];
  for (const [index, row] of rows.slice(hasHeader ? 1 : 0).entries()) {
    const line = index + (hasHeader ? 2 : 1);
    const rel = row[0]?.trim();
    if (!rel) {
      problems.push({ name: `${path.basename(file)}:${line}`, reason: 'no path in the first column' });
      continue;
    }
    const abs = path.resolve(dir, rel);
    const metadata: Metadata = {};
    header.forEach((column, i) => {
      if (i === 0 || i === labelColumn) return;
      if (labelFrom.from !== 'column' && i === 1) return;
      const value = metadataValue(row[i]);
      if (value !== undefined) metadata[column] = value;
    });
    const label = labelFrom.from === 'folder' ? folderLabel(dir, abs) : row[labelColumn]?.trim() || null;
    const name = toPosix(rel);
    if (!(await fs.stat(abs).then((s) => s.isFile()).catch(() => false))) {
      problems.push({ name, reason: `file not found (${path.basename(file)} line ${line})` });
      continue;
    }
    items.push({ file: abs, name, label, metadata: nonEmpty(metadata) });
  }
  return { kind: 'csv', items, problems };
}

/** The name of the folder a file is in, or null when that folder is the dataset's root. */
function folderLabel(root: string, file: string): string | null {
  const parent = path.dirname(file);
  return path.resolve(parent) === path.resolve(root) ? null : path.basename(parent);
}

interface AnnotationImage {
  id?: unknown;
  file_name?: unknown;
  [key: string]: unknown;
}

interface Annotation {
  image_id?: unknown;
  category_id?: unknown;
  attributes?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * AI Hub style annotation files (COCO-like): `images` (an array, or one object) with `file_name`,
 * `annotations` with `image_id` and `attributes`; one file per picture or one for many. The label is
 * an attribute (`--label-from annotation:quality`) or the picture's folder; the other attributes,
 * and the category name when there is one, become metadata.
 */
async function readAnnotations(files: string[], root: string, labelFrom: LabelFrom, allFiles?: string[]): Promise<Dataset> {
  if (labelFrom.from === 'column') throw new Error('--label-from column:... applies to a CSV manifest, not to annotation JSON.');
  // Pictures are found beside the JSON, relative to the root, or else by file name anywhere under the root.
  const byBasename = new Map<string, string[]>();
  for (const f of allFiles ?? (await walk(root))) {
    if (!isImageFile(f)) continue;
    const list = byBasename.get(path.basename(f)) ?? [];
    list.push(f);
    byBasename.set(path.basename(f), list);
  }
  const items: DatasetItem[] = [];
  const problems: DatasetProblem[] = [];
  const seen = new Set<string>();
  for (const jsonFile of files) {
    const jsonName = toPosix(path.relative(root, jsonFile)) || path.basename(jsonFile);
    let json: { images?: AnnotationImage[] | AnnotationImage; annotations?: Annotation[] | Annotation; categories?: { id?: unknown; name?: unknown }[] };
    try {
      json = JSON.parse(await fs.readFile(jsonFile, 'utf8'));
    } catch (error) {
      problems.push({ name: jsonName, reason: `unreadable annotation JSON: ${(error as Error).message}` });
      continue;
    }
    const images = Array.isArray(json.images) ? json.images : json.images ? [json.images] : [];
    const annotations = Array.isArray(json.annotations) ? json.annotations : json.annotations ? [json.annotations] : [];
    const categories = new Map((json.categories ?? []).map((c) => [String(c.id), c.name]));
    for (const image of images) {
      const fileName = typeof image.file_name === 'string' ? image.file_name : null;
      if (!fileName) {
        problems.push({ name: jsonName, reason: 'an image entry without file_name' });
        continue;
      }
      const ownAnnotations = annotations.filter((a) => image.id === undefined || a.image_id === undefined || String(a.image_id) === String(image.id));
      const attributes: Record<string, unknown> = Object.assign({}, ...ownAnnotations.map((a) => a.attributes ?? {}));
      const category = ownAnnotations.map((a) => categories.get(String(a.category_id))).find((c) => c !== undefined);
      const candidates = [path.resolve(path.dirname(jsonFile), fileName), path.resolve(root, fileName)];
      let abs: string | undefined;
      for (const c of candidates) if (await fs.stat(c).then((s) => s.isFile()).catch(() => false)) (abs ??= c);
      if (!abs) {
        const found = byBasename.get(path.basename(fileName)) ?? [];
        if (found.length === 1) abs = found[0];
        else {
          problems.push({
            name: fileName,
            reason: found.length > 1 ? `file name is ambiguous (${found.length} files named ${path.basename(fileName)}; ${jsonName})` : `file not found (${jsonName})`,
          });
          continue;
        }
      }
      if (seen.has(abs)) continue;
      seen.add(abs);
      const metadata: Metadata = {};
      if (category !== undefined && category !== null) metadata.category = String(category);
      let label: string | null;
      if (labelFrom.from === 'annotation') {
        const value = attributes[labelFrom.attribute];
        label = value === undefined || value === null || value === '' ? null : String(value);
      } else label = folderLabel(root, abs);
      for (const [key, value] of Object.entries(attributes)) {
        if (labelFrom.from === 'annotation' && key === labelFrom.attribute) continue;
        const v = metadataValue(value);
        if (v !== undefined) metadata[key] = v;
      }
      items.push({ file: abs, name: toPosix(path.relative(root, abs)), label, metadata: nonEmpty(metadata) });
    }
  }
  return { kind: 'annotations', items, problems };
}
