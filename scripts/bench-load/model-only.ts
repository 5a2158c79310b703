/**
 * The model-only reference for the uploads target, measured in this run: the same child and the
 * same way of using the cores as bench:embed's best onnx-cpu figure (one process, one worker
 * thread per core, one intra-op thread each, batch 1 and 8, all hosts busy at once). A figure
 * from another hour is not a fair divisor here: this machine's speed moves by up to ~9% between
 * hours, the model and the service alike.
 */
import os from 'node:os';
import path from 'node:path';
import { writeBenchImages } from '../bench/images.js';
import { runChild } from '../bench/run-child.js';
import { makeTempDir } from './procs.js';

export interface ModelOnlyRun {
  /** When in the run it was measured: before the uploads, or after a worker count's runs. */
  when: string;
  batch: number;
  imagesPerSecond: number | null;
  error?: string;
}

export interface ModelOnlyReference {
  /** The best run: the strictest divisor. */
  imagesPerSecond: number | null;
  way: string;
  imagesPerHost: number;
  runs: ModelOnlyRun[];
}

const BATCHES = [1, 8];

export class ModelOnlyMeter {
  readonly runs: ModelOnlyRun[] = [];
  private files: string[] | null = null;
  private readonly hosts = os.cpus().length;

  constructor(
    private readonly options: { cacheDir: string; imagesPerHost: number; log: (m: string) => void },
  ) {}

  get way(): string {
    return `${this.hosts} worker threads × 1 thread (one process), batch ${BATCHES.join(' and ')}, onnx-cpu, model only`;
  }

  /** Measures every batch once, now; nothing else of the benchmark runs meanwhile. */
  async measure(when: string): Promise<void> {
    this.files ??= (await writeBenchImages(path.join(await makeTempDir('lookalike-bench-model-only-'), 'images'), 16)).map((f) => f.file);
    for (const batch of BATCHES) {
      const m = await runChild(
        { mode: 'threads', runtime: 'onnx-cpu', hosts: this.hosts, batch, images: this.options.imagesPerHost, files: this.files, cacheDir: this.options.cacheDir },
        300_000,
      );
      const run: ModelOnlyRun =
        m.type === 'result'
          ? { when, batch, imagesPerSecond: m.result.imagesPerSecond as number }
          : { when, batch, imagesPerSecond: null, error: m.type === 'error' ? m.message : m.type === 'unavailable' ? m.reason : m.type };
      this.runs.push(run);
      this.options.log(`  model only (${when}), batch ${batch}: ${run.imagesPerSecond ?? `failed: ${run.error}`}${run.imagesPerSecond ? ' images/s' : ''}`);
    }
  }

  best(): number | null {
    const values = this.runs.flatMap((r) => (r.imagesPerSecond === null ? [] : [r.imagesPerSecond]));
    return values.length ? Math.max(...values) : null;
  }

  reference(): ModelOnlyReference {
    return { imagesPerSecond: this.best(), way: this.way, imagesPerHost: this.options.imagesPerHost, runs: this.runs };
  }
}
