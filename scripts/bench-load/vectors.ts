/**
 * Synthetic clustered vectors that look like image embeddings (L2-normalised, 1024-d, positive
 * average cosine), their exact nearest neighbours, and the binary COPY rows that store them.
 */
import { createHash } from 'node:crypto';

export interface VectorSpec {
  dimension: number;
  clusters: number;
  /** Dimensions of the variation inside a cluster (its intrinsic dimension). */
  intrinsicDimension: number;
  /** Size of the within-cluster variation relative to a cluster centre. */
  spread: number;
  /** Per-coordinate isotropic noise, relative to a centre coordinate. */
  noise: number;
  seed: number;
}

export const DEFAULT_SPEC: VectorSpec = { dimension: 1024, clusters: 200, intrinsicDimension: 32, spread: 0.7, noise: 0.25, seed: 7 };

/** mulberry32 with Box–Muller normals: deterministic for a seed. */
class Rng {
  private a: number;
  private spare: number | null = null;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  uniform(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

export interface VectorSet {
  spec: VectorSpec;
  count: number;
  /** count × dimension, row-major, each row of unit length. */
  data: Float32Array;
  /** The cluster of each vector (used as its label). */
  cluster: Int32Array;
}

/**
 * x = g + c_k + spread · B_k z + noise · ε, normalised: g is shared by all (embeddings of one model
 * share a mean direction), c_k is the cluster centre, B_k (dimension × intrinsic) spans the
 * cluster's own variation. Vector i belongs to cluster (hash of i) so any prefix is a fair sample.
 */
export function generateVectors(count: number, spec: VectorSpec = DEFAULT_SPEC): VectorSet {
  const { dimension: d, clusters, intrinsicDimension: r } = spec;
  const rng = new Rng(spec.seed);
  const g = Float32Array.from({ length: d }, () => rng.normal());
  const centres = new Float32Array(clusters * d);
  for (let i = 0; i < centres.length; i++) centres[i] = rng.normal();
  const bases = new Float32Array(clusters * d * r);
  const scale = 1 / Math.sqrt(r);
  for (let i = 0; i < bases.length; i++) bases[i] = rng.normal() * scale;
  const data = new Float32Array(count * d);
  const cluster = new Int32Array(count);
  const z = new Float64Array(r);
  const x = new Float64Array(d);
  for (let i = 0; i < count; i++) {
    const k = Math.floor(rng.uniform() * clusters);
    cluster[i] = k;
    for (let j = 0; j < r; j++) z[j] = rng.normal() * spec.spread;
    const c = k * d;
    const b = k * d * r;
    let norm = 0;
    for (let t = 0; t < d; t++) {
      let v = g[t] + centres[c + t] + spec.noise * rng.normal();
      const row = b + t * r;
      for (let j = 0; j < r; j++) v += bases[row + j] * z[j];
      x[t] = v;
      norm += v * v;
    }
    const inv = 1 / Math.sqrt(norm);
    const o = i * d;
    for (let t = 0; t < d; t++) data[o + t] = x[t] * inv;
  }
  return { spec, count, data, cluster };
}

export function row(set: VectorSet, i: number): Float32Array {
  const d = set.spec.dimension;
  return set.data.subarray(i * d, (i + 1) * d);
}

/**
 * Exact top-k by cosine distance (1 − dot: the rows are unit length) among the first `n` vectors,
 * each probe itself left out, as the service's similarImages(imageId) leaves the query image out.
 * Probes are done in blocks so each stored vector is read once per block.
 */
export function exactNeighbours(set: VectorSet, n: number, probes: readonly number[], k: number): number[][] {
  const d = set.spec.dimension;
  const data = set.data;
  const out: number[][] = [];
  const BLOCK = 8;
  for (let p0 = 0; p0 < probes.length; p0 += BLOCK) {
    const block = probes.slice(p0, p0 + BLOCK);
    const best = block.map(() => ({ ids: new Int32Array(k).fill(-1), dist: new Float64Array(k).fill(Infinity) }));
    const dots = new Float64Array(block.length);
    for (let i = 0; i < n; i++) {
      const o = i * d;
      dots.fill(0);
      for (let b = 0; b < block.length; b++) {
        const q = block[b] * d;
        let s0 = 0;
        let s1 = 0;
        let s2 = 0;
        let s3 = 0;
        for (let t = 0; t < d; t += 4) {
          s0 += data[o + t] * data[q + t];
          s1 += data[o + t + 1] * data[q + t + 1];
          s2 += data[o + t + 2] * data[q + t + 2];
          s3 += data[o + t + 3] * data[q + t + 3];
        }
        dots[b] = s0 + s1 + s2 + s3;
      }
      for (let b = 0; b < block.length; b++) {
        if (i === block[b]) continue;
        const dist = 1 - dots[b];
        const top = best[b];
        if (dist >= top.dist[k - 1]) continue;
        let j = k - 1;
        while (j > 0 && top.dist[j - 1] > dist) {
          top.dist[j] = top.dist[j - 1];
          top.ids[j] = top.ids[j - 1];
          j--;
        }
        top.dist[j] = dist;
        top.ids[j] = i;
      }
    }
    for (const top of best) out.push(Array.from(top.ids));
  }
  return out;
}

/** Share of the true top-k found, averaged over probes. */
export function recallAtK(found: readonly (readonly (string | number)[])[], truth: readonly (readonly (string | number)[])[], k: number): number {
  let hit = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = new Set(truth[i].slice(0, k));
    for (const f of found[i].slice(0, k)) if (t.has(f)) hit++;
  }
  return truth.length ? hit / (truth.length * k) : Number.NaN;
}

/** A deterministic UUID (v4 layout) per vector, so runs and sizes agree on ids. */
export function vectorUuid(i: number): string {
  const h = createHash('sha256').update(`bench-load-vector-${i}`).digest();
  h[6] = (h[6] & 0x0f) | 0x40;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

// ---------------------------------------------------------------------------------------------
// COPY data for the service's own tables (migrations 001–004).

/** CSV for `COPY images (id, collection, label, status, width, height, content_type, sha256, object_key, size_bytes)`. */
export function imagesCsv(set: VectorSet, from: number, to: number, collection: string): string {
  const lines: string[] = [];
  for (let i = from; i < to; i++) {
    const sha = createHash('sha256').update(`bench-load-image-${i}`).digest('hex');
    lines.push(`${vectorUuid(i)},${collection},c${set.cluster[i]},READY,224,224,image/png,${sha},bench/vectors/${i},0`);
  }
  return lines.join('\n') + '\n';
}

/**
 * Binary COPY for `image_embeddings (image_id, model, collection, label, embedding)`: uuid as 16
 * bytes, text as UTF-8, pgvector's binary form (int16 dimension, int16 0, float4s big-endian).
 */
export function embeddingsCopyBinary(set: VectorSet, from: number, to: number, model: string, collection: string): Buffer {
  const d = set.spec.dimension;
  const modelBytes = Buffer.from(model);
  const collBytes = Buffer.from(collection);
  const header = Buffer.alloc(19);
  Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1').copy(header, 0);
  const parts: Buffer[] = [header];
  for (let i = from; i < to; i++) {
    const label = Buffer.from(`c${set.cluster[i]}`);
    const size = 2 + (4 + 16) + (4 + modelBytes.length) + (4 + collBytes.length) + (4 + label.length) + (4 + 4 + 4 * d);
    const b = Buffer.alloc(size);
    let o = b.writeInt16BE(5, 0);
    o = b.writeInt32BE(16, o);
    o += Buffer.from(vectorUuid(i).replace(/-/g, ''), 'hex').copy(b, o);
    for (const text of [modelBytes, collBytes, label]) {
      o = b.writeInt32BE(text.length, o);
      o += text.copy(b, o);
    }
    o = b.writeInt32BE(4 + 4 * d, o);
    o = b.writeInt16BE(d, o);
    o = b.writeInt16BE(0, o);
    const base = i * d;
    for (let t = 0; t < d; t++) o = b.writeFloatBE(set.data[base + t], o);
    parts.push(b);
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1, 0);
  parts.push(trailer);
  return Buffer.concat(parts);
}
