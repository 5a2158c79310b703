/** docs/benchmarks.md's load section and docs/bench-load.svg, generated from bench/results/load.json. */
import type { ModelOnlyRun } from './model-only.js';
import type { SearchResult } from './search.js';
import type { DbStatementsResult } from './db-statements.js';
import type { ConfigResult } from './uploads.js';


export interface Target {
  target: string;
  setting: string;
  measuredAt: number | null;
  /** Where it was measured, when not a number of vectors. */
  at?: string;
  value: number | null;
  pass: boolean | null;
  note?: string;
}

export interface LoadResults {
  benchmark: 'load';
  quick: boolean;
  date: string;
  durationSeconds: number;
  phaseSeconds: Record<string, number>;
  machine: { cpu: string; cores: number; memoryGiB: number; loadAverageBefore: number[]; loadAverageAfter: number[]; node: string; platform: string };
  command: string;
  search: SearchResult | null;
  uploads: {
    clients: number;
    uploadsPerConfiguration: number;
    /** Unmeasured uploads in the same closed loop before the measured ones; absent in older results (none). */
    warmupUnderLoad?: number;
    images: Record<string, unknown>;
    method: string;
    modelEnv: Record<string, string>;
    /** The target's divisor: measured in the same run (older results: bench:embed's stored figure). */
    modelOnly: { imagesPerSecond: number | null; source: string; note: string };
    /** Every model-only run of this benchmark; absent in older results. */
    modelOnlyRuns?: ModelOnlyRun[];
    /** bench:embed's stored figure, shown beside the same-run one; absent in older results. */
    modelOnlyStored?: { imagesPerSecond: number | null; source: string; note: string };
    configurations: ConfigResult[];
    /** Absent in results written before it was measured. */
    databaseStatements?: DbStatementsResult | null;
  } | null;
  targets: Target[];
  errors: string[];
}

/**
 * The issue's targets, from the figures: similarImages(k: 5) through GraphQL p99 ≤ 25 ms with
 * recall@5 ≥ 0.95 at 100k vectors, for each ef_search measured; uploads/s ≥ 70% of the model-only
 * images/s, with the best worker count.
 */
export function computeTargets(search: LoadResults['search'], uploads: LoadResults['uploads']): Target[] {
  const targets: Target[] = [];
  if (search) {
    const largest = search.sizes[search.sizes.length - 1];
    const efs = [...new Set(largest?.methods.filter((x) => x.via === 'graphql' && x.index === 'hnsw').map((x) => x.efSearch!) ?? [])];
    const judged = largest !== undefined && largest.vectors >= 100_000;
    const note = judged ? undefined : `measured at ${largest?.vectors ?? 0} vectors, the target is for 100k`;
    for (const ef of efs) {
      const m = largest.methods.find((x) => x.via === 'graphql' && x.index === 'hnsw' && x.efSearch === ef);
      const common = { setting: `HNSW_EF_SEARCH=${ef}`, measuredAt: largest.vectors, ...(note ? { note } : {}) };
      targets.push({ target: 'similarImages(k: 5) through GraphQL, p99 ≤ 25 ms at 100k vectors', ...common, value: m?.latencyMs.p99 ?? null, pass: judged && m ? m.latencyMs.p99 <= 25 : null });
      targets.push({ target: 'recall@5 ≥ 0.95 at 100k vectors (through GraphQL)', ...common, value: m?.recallAt5 ?? null, pass: judged && m ? m.recallAt5 >= 0.95 : null });
    }
  }
  if (uploads && uploads.configurations.length > 0) {
    const best = [...uploads.configurations].sort((a, b) => b.uploadsPerSecond - a.uploadsPerSecond)[0];
    targets.push({
      target: 'uploads/s ≥ 70% of model-only images/s (everything on this machine)',
      setting: `${best.workers} worker${best.workers > 1 ? 's' : ''}; ${best.database ?? 'PGlite over the wire'}`,
      measuredAt: null,
      at: `${best.uploadsPerSecond} uploads/s${best.runsUploadsPerSecond ? ` (median of ${best.runsUploadsPerSecond.length} runs: ${best.runsUploadsPerSecond.join(', ')})` : ''} vs ${uploads.modelOnly.imagesPerSecond ?? '–'} images/s model only${uploads.modelOnlyRuns ? ' in the same run' : ''}${
        uploads.modelOnlyStored?.imagesPerSecond && best.ratioToStoredModelOnly != null
          ? ` (vs the stored bench:embed figure ${uploads.modelOnlyStored.imagesPerSecond} images/s: ${best.ratioToStoredModelOnly})`
          : ''
      }`,
      value: best.ratioToModelOnly,
      pass: best.ratioToModelOnly === null ? null : best.ratioToModelOnly >= 0.7,
      ...(best.ratioToModelOnly === null ? { note: uploads.modelOnlyRuns ? 'the model-only runs of this benchmark failed' : 'no model-only figure: run npm run bench:embed first' } : {}),
    });
  }
  return targets;
}

const f = (x: number | null | undefined, d = 1) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));
/** Darkest for ef_search 40, lighter for 100, lightest above. */
const shade = (palette: string[], ef: number | null) => palette[ef === null || ef <= 40 ? 0 : ef <= 100 ? 1 : 2];
const ms = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : x < 1 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function markdown(r: LoadResults, svgName: string): string {
  const L: string[] = [];
  const nativeDb = r.uploads?.configurations.find((c) => c.database?.startsWith('PostgreSQL'))?.database;
  L.push(nativeDb ? `## Load on a native PostgreSQL: upload throughput, memory (\`npm run bench:load -- --database native\`)` : '## Load: search latency, upload throughput, memory (`npm run bench:load`)', '');
  if (r.quick) L.push('> **Quick run** (`--quick`: a smoke test on small sizes, possibly on a busy machine). These are not figures of record: run `npm run bench:load` on an idle machine for those.', '');
  const m = r.machine;
  L.push(
    `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Node ${m.node}; load average ${m.loadAverageBefore.map((x) => x.toFixed(2)).join(' / ')} before, ${m.loadAverageAfter.map((x) => x.toFixed(2)).join(' / ')} after; ${r.date}; ${(r.durationSeconds / 60).toFixed(1)} min. ` +
      `Generated by \`${r.command}\`.`,
    '',
    `![Search latency per method and size; uploads/s per worker count](${svgName})`,
    '',
  );
  if (r.errors.length) L.push('**Errors in this run:**', '', ...r.errors.map((e) => `- ${esc(e.split('\n')[0])}`), '');

  if (r.targets.length > 0) {
    L.push('### Targets', '', '| target | setting | measured at | value | pass |', '|---|---|---|---|---|');
    for (const t of r.targets) {
      const at = t.at ?? (t.measuredAt === null ? '–' : `${t.measuredAt} vectors`);
      L.push(`| ${t.target} | ${t.setting} | ${at} | ${t.value ?? '–'} | ${t.pass === null ? `not judged${t.note ? ` (${t.note})` : ''}` : t.pass ? 'pass' : '**fail**'} |`);
    }
    L.push('');
  }

  const s = r.search;
  if (s) {
    L.push(
      '### (a) `similarImages(imageId, k: 5)`: latency and recall@5',
      '',
      `${s.probes} stored images as probes, one query at a time, each probe itself left out (as the service does); recall@5 against exact search (brute force in JS over the same vectors). ` +
        `Vectors: synthetic, clustered, ${s.dimension}-d, L2-normalised (${s.vectors.clusters} clusters, intrinsic dimension ${s.vectors.intrinsicDimension}), stored with their image rows in the service's tables under model \`${s.model}\` (random weights, **not pretrained**), one collection. ` +
        `HNSW: pgvector in PGlite (shared_buffers ${s.hnsw.sharedBuffers ?? '128MB'}${s.hnsw.sharedBuffers ? ', as `PGLITE_SHARED_BUFFERS` sets it' : ', its default'}), m ${s.hnsw.m}, ef_construction ${s.hnsw.efConstruction}, cosine; GraphQL: one API process per \`HNSW_EF_SEARCH\`, reaching PGlite over the wire (pglite-socket); it answers with one search statement (the stored vector, the active-model check and the HNSW scan; \`PgVectorIndex.nearestToStored\`) in a read-only transaction, then reads the neighbours' rows. ` +
        `"In the database": the service's own SQL (\`PgVectorIndex.nearest\`) run in the PGlite process. Exact: the same SQL with no index on the table. ` +
        `hnswlib-node ${s.hnswlib.present ? `${s.hnswlib.version ?? ''} (m ${s.hnswlib.m}, ef_construction ${s.hnswlib.efConstruction}), in this process` : `: ${s.hnswlib.error ?? 'not present'}`}. ` +
        `GraphQL floor (\`{ __typename }\`, no database): p50 ${ms(s.graphqlFloorMs?.p50)} ms, p99 ${ms(s.graphqlFloorMs?.p99)} ms.` +
        (s.graphqlRetries ? ` ${s.graphqlRetries} GraphQL request(s) were sent again after a kept-alive socket turned out closed (both attempts count in the latency).` : ''),
      '',
      '| vectors | method | p50 ms | p99 ms | recall@5 | probes |',
      '|---:|---|---:|---:|---:|---:|',
    );
    for (const size of s.sizes) {
      for (const x of size.methods) L.push(`| ${size.vectors} | ${x.method} | ${ms(x.latencyMs.p50)} | ${ms(x.latencyMs.p99)} | ${x.recallAt5.toFixed(3)} | ${x.probes} |`);
    }
    L.push('', '| vectors | insert | HNSW build (pgvector) | hnswlib-node build | table + index | HNSW index | plan with the index |', '|---:|---|---:|---:|---:|---:|---|');
    for (const size of s.sizes) {
      L.push(
        `| ${size.vectors} | ${size.insert.rows} rows in ${f(size.insert.seconds)} s (${size.insert.rowsPerSecond} rows/s) | ${f(size.indexBuildSeconds)} s | ${size.hnswlibBuildSeconds === null ? '–' : `${f(size.hnswlibBuildSeconds)} s`} | ${f(size.storage.tableMiB)} MiB | ${f(size.storage.indexMiB)} MiB | \`${size.plan.hnsw}\` |`,
      );
    }
    L.push('', `Insert: ${s.sizes[0]?.insert.method ?? ''}. Index build with maintenance_work_mem ${s.hnsw.maintenanceWorkMem} (set for the build only).`, '');
  }

  const u = r.uploads;
  if (u) {
    const stored = u.modelOnlyStored?.imagesPerSecond ? u.modelOnlyStored : null;
    L.push(
      '### (b) Uploads: throughput and time to classification',
      '',
      `${u.clients} clients, each uploading one image and waiting for its \`classificationReady\` event (graphql-ws, one subscription on the collection) before the next; ${u.uploadsPerConfiguration} uploads per configuration` +
        (u.warmupUnderLoad
          ? `, measured after ${u.warmupUnderLoad} unmeasured uploads in the same loop (a service runs with its code compiled by the JIT and its pools filled; without this warm-up the first few hundred uploads of a fresh process cost about 3% more CPU here). `
          : '. ') +
        `Real processes as deployed: 1 API + N workers (\`node --import tsx apps/…/main.ts\`), ${nativeDb ? `one native ${nativeDb} (default settings, fsync on; its CPU is the postmaster's and every backend's)` : 'one PGlite served over the wire by a process of its own'}, one local redis-server; a fresh set of each per configuration. ` +
        `Model: DenseNet121, ${Object.entries(u.modelEnv).filter(([k]) => k !== 'MODEL_CACHE_DIR').map(([k, v]) => `${k}=${v}`).join(', ')} (random weights: the speed of the pretrained model, **not** its vectors). ` +
        `As the workers reported it: ${[...new Set(u.configurations.map((c) => (c.model ? `\`${c.model.id}\` on ${c.model.runtime}${c.model.pretrained ? '' : ', not pretrained'}` : 'unknown')))].join('; ')}. ` +
        `Images: ${u.images.count} (${u.images.jpeg} JPEG, ${u.images.png} PNG), ${u.images.sidePx} px, mean ${u.images.meanKiB} KiB. ` +
        `Time to classification: from the start of the upload request to the event's arrival; with ${u.clients} uploads in flight it is mostly queueing (≈ ${u.clients} ÷ uploads/s), so the pipeline's own latency is given too: one client, one upload at a time, before the loaded run. ` +
        `Uploads/s: classified uploads over the time from the first request to the last event. ` +
        (u.modelOnlyRuns
          ? `"vs model-only": uploads/s over the model-only images/s measured in this same run (the embedding benchmark's child, its best way to use the whole machine; before the uploads and after each worker count, the best run kept), because this machine's speed moves by several percent between hours; the stored bench:embed figure is given beside it.`
          : `"vs model-only": uploads/s over the best onnx-cpu model-only images/s of the embedding benchmark (whole machine).`) +
        (u.configurations.some((c) => c.runsUploadsPerSecond)
          ? ` Each configuration ran ${Math.max(...u.configurations.map((c) => c.runsUploadsPerSecond?.length ?? 1))} times on fresh processes (uploads/s moves a few percent between runs here): every figure below is the median run's, with every run's uploads/s in brackets.`
          : ''),
      '',
      `| workers | uploads/s | time to classification p50 / p99 ms | unloaded p50 / p99 ms | upload request p50 / p99 ms | CPU used | model share of service CPU | vs model-only images/s${stored ? ' (same run / stored)' : ''} |`,
      '|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    for (const c of u.configurations) {
      const model = c.cpu.stages.find((x) => x.stage.startsWith('model'))!;
      const gen = c.cpu.stages.find((x) => x.stage.startsWith('load generator'))!;
      const service = c.cpu.stages.reduce((a, x) => a + x.cpuSeconds, 0) - gen.cpuSeconds;
      L.push(
        `| ${c.workers} | ${f(c.uploadsPerSecond, 2)}${c.runsUploadsPerSecond ? ` (${c.runsUploadsPerSecond.map((x) => f(x, 2)).join(', ')})` : ''} | ${ms(c.timeToClassificationMs.p50)} / ${ms(c.timeToClassificationMs.p99)} | ${ms(c.unloadedTimeToClassificationMs?.p50)} / ${ms(c.unloadedTimeToClassificationMs?.p99)} | ${ms(c.uploadRequestMs.p50)} / ${ms(c.uploadRequestMs.p99)} | ${pct(c.cpu.machineUtilisation)} of ${c.cpu.cores} cores | ${service > 0 ? pct(model.cpuSeconds / service) : '–'} | ${c.ratioToModelOnly === null ? 'not measured' : c.ratioToModelOnly.toFixed(2)}${stored ? ` / ${c.ratioToStoredModelOnly == null ? '–' : c.ratioToStoredModelOnly.toFixed(2)}` : ''} |`,
      );
      if (c.failedUploads || c.missedEvents || c.failedImages) L.push(`|  | ${c.failedUploads} failed uploads, ${c.missedEvents} events missed, ${c.failedImages} images not READY |  |  |  |  |  |  |`);
    }
    L.push('', `Model-only figure: ${u.modelOnly.imagesPerSecond === null ? u.modelOnly.note : `${u.modelOnly.imagesPerSecond} images/s (${u.modelOnly.source}; ${u.modelOnly.note})`}.`);
    if (stored) L.push('', `Stored bench:embed figure, for comparison: ${stored.imagesPerSecond} images/s (${stored.source}; ${stored.note}).`);
    L.push('');
    L.push('CPU per stage over the measured window (shares of all CPU measured, the load generator included; ms of CPU per classified upload):', '');
    const stages = u.configurations[0]?.cpu.stages.map((x) => x.stage) ?? [];
    L.push(`| stage | ${u.configurations.map((c) => `${c.workers} worker${c.workers > 1 ? 's' : ''}`).join(' | ')} |`, `|---|${u.configurations.map(() => '---:').join('|')}|`);
    for (const st of stages) {
      L.push(
        `| ${st} | ${u.configurations
          .map((c) => {
            const x = c.cpu.stages.find((y) => y.stage === st)!;
            return `${f(x.cpuSeconds)} s, ${pct(x.share)}, ${f(c.cpu.perUploadMs[st])} ms/upload`;
          })
          .join(' | ')} |`,
      );
    }
    const d = u.databaseStatements;
    if (d) {
      L.push(
        '',
        `Where the database's CPU goes, statement by statement, for one upload (${d.method}; ${d.storedBefore} uploads stored first, mean over the next ${d.measured}; ef_search ${d.efSearch}). ` +
          'The difference between the two columns is the HNSW index: its insert is most of the database stage. Random vectors have no clusters, which makes an index insert dearer than with the service\'s own vectors: read the split between statements here, and the database\'s total per upload from the real run above.',
        '',
        '| statement | by | CPU ms, with the HNSW index | CPU ms, without |',
        '|---|---|---:|---:|',
        ...d.statements.map((x) => `| ${x.statement} | ${x.by} | ${f(x.withIndexMs, 2)} | ${f(x.withoutIndexMs, 2)} |`),
        `| **all** |  | **${f(d.totalWithIndexMs, 2)}** | **${f(d.totalWithoutIndexMs, 2)}** |`,
      );
    }
    L.push('', 'Per process:', '', `| workers | process | CPU s | share |`, '|---:|---|---:|---:|');
    for (const c of u.configurations) for (const p of c.cpu.processes) L.push(`| ${c.workers} | ${p.process} | ${f(p.cpuSeconds)} | ${pct(p.share)} |`);
    L.push('', ...u.configurations.map((c) => `- ${c.workers} worker${c.workers > 1 ? 's' : ''}: ${c.cpu.limit}.`), '');
    L.push(
      "The model thread is a worker's busiest thread other than its main thread, with any other using at least 30% as much (a worker running several model hosts) (Node names every thread `node`, so this is by elimination); \"other threads\" are the rest of the worker's CPU (libuv pool: sharp's decode and resize, file reads; garbage collection).",
      '',
    );
  }

  L.push('### (c) Memory per process', '', 'Peak (VmHWM) and end-of-run (VmRSS) resident memory, MiB, from /proc.', '', '| run | process | peak MiB | end MiB |', '|---|---|---:|---:|');
  if (s) for (const p of s.memory) L.push(`| search (${s.sizes.map((x) => x.vectors).join(', ')} vectors) | ${p.process} | ${f(p.peakMiB, 0)} | ${f(p.endMiB, 0)} |`);
  if (u) for (const c of u.configurations) for (const p of c.memory) L.push(`| uploads, ${c.workers} worker${c.workers > 1 ? 's' : ''} | ${p.process} | ${f(p.peakMiB, 0)} | ${f(p.endMiB, 0)} |`);
  if (nativeDb) L.push('', 'PostgreSQL (a process per backend): the proportional set size (Pss) of the postmaster and every backend, summed at the end of the run, so that shared buffers count once; Linux keeps no peak of it.');
  if (s?.pgliteWasmHeapMiB) L.push('', `PGlite's WebAssembly heap at the end of the search run: ${s.pgliteWasmHeapMiB} MiB (its ceiling is 2 GiB); the in-memory database files live outside it, in the same process.`);
  L.push('');
  return L.join('\n');
}

/** Two panels: search latency (log scale) per method and size; uploads/s per worker count. */
export function svg(r: LoadResults): string {
  const W = 980;
  const H = 440;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="10" y="18" font-size="13" font-weight="bold">npm run bench:load${r.quick ? ' (QUICK RUN: not figures of record)' : ''}: ${esc(r.machine.cpu)}, ${r.machine.cores} cores, ${r.date.slice(0, 10)}</text>`);

  // Panel 1: latency.
  const px = 60;
  const py = 50;
  const pw = 620;
  const ph = 280;
  const s = r.search;
  out.push(`<text x="${px}" y="${py - 12}" font-weight="bold">similarImages(k: 5) latency, ms (log scale): bar p50, whisker p99</text>`);
  if (s && s.sizes.length) {
    type M = SearchResult['sizes'][number]['methods'][number];
    const key = (m: M) => `${m.via}|${m.index}|${m.efSearch}`;
    const order = (m: M) => ['graphql', 'db', 'in-process'].indexOf(m.via) * 10 + ['hnsw', 'hnswlib', 'none'].indexOf(m.index) * 3 + (m.efSearch === null ? 0 : Math.min(2, [40, 100].filter((e) => m.efSearch! > e).length) / 3);
    const colour = (m: M) =>
      m.index === 'none' ? (m.via === 'graphql' ? '#d62728' : '#ff9896') : shade(m.index === 'hnswlib' ? ['#9467bd', '#c5b0d5', '#e2d6ee'] : m.via === 'graphql' ? ['#1f5fa6', '#6baed6', '#b9d7ee'] : ['#2ca02c', '#98df8a', '#d3f0cc'], m.efSearch);
    const legend = new Map<string, M>();
    for (const z of s.sizes) for (const m of z.methods) if (!legend.has(key(m))) legend.set(key(m), m);
    const methods = [...legend.values()].sort((a, b) => order(a) - order(b));
    const all = s.sizes.flatMap((z) => z.methods.flatMap((x) => [x.latencyMs.p50, x.latencyMs.p99])).filter((x) => x > 0 && Number.isFinite(x));
    const lo = Math.floor(Math.log10(Math.min(...all)));
    const hi = Math.ceil(Math.log10(Math.max(...all, 30)));
    const y = (v: number) => py + ph - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo || 1)) * ph;
    for (let e = lo; e <= hi; e++) {
      out.push(`<line x1="${px}" x2="${px + pw}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" stroke="#ddd"/>`);
      out.push(`<text x="${px - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toFixed(-e)}</text>`);
    }
    const target = 25;
    out.push(`<line x1="${px}" x2="${px + pw}" y1="${y(target)}" y2="${y(target)}" stroke="#c00" stroke-dasharray="4 3"/>`);
    out.push(`<text x="${px + pw - 2}" y="${y(target) - 3}" text-anchor="end" fill="#c00">target p99 25 ms (GraphQL, 100k)</text>`);
    const groupW = pw / s.sizes.length;
    const barW = Math.min(26, (groupW - 20) / methods.length);
    s.sizes.forEach((size, gi) => {
      const gx = px + gi * groupW + (groupW - barW * methods.length) / 2;
      for (const m of size.methods) {
        const mi = methods.findIndex((x) => key(x) === key(m));
        const x0 = gx + mi * barW;
        const { p50, p99 } = m.latencyMs;
        if (p50 > 0) {
          out.push(`<rect x="${x0.toFixed(1)}" y="${y(p50).toFixed(1)}" width="${(barW - 3).toFixed(1)}" height="${(py + ph - y(p50)).toFixed(1)}" fill="${colour(m)}"><title>${esc(m.method)}: p50 ${ms(p50)} ms, p99 ${ms(p99)} ms, recall@5 ${m.recallAt5}</title></rect>`);
        }
        if (p99 > 0) {
          const cx = x0 + (barW - 3) / 2;
          out.push(`<line x1="${cx.toFixed(1)}" x2="${cx.toFixed(1)}" y1="${y(p50).toFixed(1)}" y2="${y(p99).toFixed(1)}" stroke="#000"/>`);
          out.push(`<line x1="${(cx - 4).toFixed(1)}" x2="${(cx + 4).toFixed(1)}" y1="${y(p99).toFixed(1)}" y2="${y(p99).toFixed(1)}" stroke="#000"/>`);
        }
      }
      out.push(`<text x="${px + gi * groupW + groupW / 2}" y="${py + ph + 16}" text-anchor="middle" font-weight="bold">${size.vectors.toLocaleString('en')} vectors</text>`);
    });
    out.push(`<line x1="${px}" x2="${px + pw}" y1="${py + ph}" y2="${py + ph}" stroke="#000"/>`);
    methods.forEach((m, i) => {
      const lx = px + (i % 2) * 320;
      const ly = py + ph + 34 + Math.floor(i / 2) * 14;
      const name = m.method.replace(/, in-process$/, ' (in-process)');
      out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${colour(m)}"/><text x="${lx + 14}" y="${ly}">${esc(name)}</text>`);
    });
  } else out.push(`<text x="${px}" y="${py + 20}">no search results</text>`);

  // Panel 2: uploads/s.
  const qx = 740;
  const qw = 210;
  const u = r.uploads;
  out.push(`<text x="${qx - 30}" y="${py - 12}" font-weight="bold">uploads/s (classified), ${u?.clients ?? '–'} clients</text>`);
  if (u && u.configurations.length) {
    const max = Math.max(...u.configurations.map((c) => c.uploadsPerSecond), u.modelOnly.imagesPerSecond ?? 0, 1) * 1.15;
    const y = (v: number) => py + ph - (v / max) * ph;
    const bw = qw / u.configurations.length;
    u.configurations.forEach((c, i) => {
      const x0 = qx + i * bw + bw * 0.15;
      out.push(`<rect x="${x0.toFixed(1)}" y="${y(c.uploadsPerSecond).toFixed(1)}" width="${(bw * 0.7).toFixed(1)}" height="${(py + ph - y(c.uploadsPerSecond)).toFixed(1)}" fill="#2ca02c"><title>${c.workers} workers: ${c.uploadsPerSecond} uploads/s</title></rect>`);
      out.push(`<text x="${x0 + bw * 0.35}" y="${y(c.uploadsPerSecond) - 4}" text-anchor="middle">${f(c.uploadsPerSecond)}</text>`);
      out.push(`<text x="${x0 + bw * 0.35}" y="${py + ph + 16}" text-anchor="middle">${c.workers} worker${c.workers > 1 ? 's' : ''}</text>`);
      out.push(`<text x="${x0 + bw * 0.35}" y="${py + ph + 30}" text-anchor="middle" fill="#555">p99 ${(c.timeToClassificationMs.p99 / 1000).toFixed(1)} s</text>`);
    });
    out.push(`<line x1="${qx}" x2="${qx + qw}" y1="${py + ph}" y2="${py + ph}" stroke="#000"/>`);
    if (u.modelOnly.imagesPerSecond) {
      const v = u.modelOnly.imagesPerSecond;
      if (v < max) {
        out.push(`<line x1="${qx}" x2="${qx + qw}" y1="${y(v)}" y2="${y(v)}" stroke="#555" stroke-dasharray="4 3"/>`);
        out.push(`<text x="${qx + qw}" y="${y(v) - 3}" text-anchor="end" fill="#555">model only ${v}/s</text>`);
      }
    }
    out.push(`<text x="${qx - 30}" y="${py + ph + 48}" fill="#555">time-to-classification p99 under each bar</text>`);
  } else out.push(`<text x="${qx}" y="${py + 20}">no upload results</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

