// The machine under the benchmark: CPU model, cores, load, how busy each core is, and the
// single-core floating-point peak (an FMA loop compiled here, or the figure measured in the notes).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** ../shared/notes/inference.md: "A short FMA loop reached 265–275 GFLOP/s on one core" (AMD EPYC, Zen 5, AVX-512). */
export const NOTES_PEAK_GFLOPS = 270;
export const NOTES_PEAK_SOURCE = 'notes (../shared/notes/inference.md): FMA loop measured 265–275 GFLOP/s on one core of this machine type; midpoint 270 used';

export interface CpuDescription {
  model: string;
  /** /proc/cpuinfo family/model/stepping, and the microarchitecture they name where known (AMD). */
  family?: number;
  modelNumber?: number;
  stepping?: number;
  microarchitecture?: string;
  /** Logical CPUs this process may use. */
  cores: number;
  flags: { avx512f: boolean; avx2: boolean; fma: boolean };
  node: string;
  kernel: string;
}

export function describeCpu(): CpuDescription {
  let model = os.cpus()[0]?.model ?? 'unknown';
  let flags = '';
  let info = '';
  try {
    info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? model;
    flags = /^flags\s*:\s*(.+)$/m.exec(info)?.[1] ?? '';
  } catch {
    // Not Linux: os.cpus() is all there is.
  }
  const has = (f: string) => new RegExp(`\\b${f}\\b`).test(flags);
  const field = (name: string) => {
    const v = new RegExp(`^${name}\\s*:\\s*(\\d+)$`, 'm').exec(info)?.[1];
    return v === undefined ? undefined : Number(v);
  };
  const family = field('cpu family');
  const modelNumber = field('model');
  return {
    model,
    family,
    modelNumber,
    stepping: field('stepping'),
    microarchitecture: amdMicroarchitecture(model, family, modelNumber),
    cores: os.availableParallelism(),
    flags: { avx512f: has('avx512f'), avx2: has('avx2'), fma: has('fma') },
    node: process.version,
    kernel: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

/**
 * AMD family 0x19 is Zen 3 / Zen 4 (models 0x10–0x1F and 0x90–0xAF: Zen 4, whose AVX-512 runs on
 * 256-bit units), 0x1A is Zen 5 (full-width AVX-512 on server parts). A VM often hides the brand.
 */
function amdMicroarchitecture(name: string, family?: number, model?: number): string | undefined {
  if (!/AMD/i.test(name) || family === undefined || model === undefined) return undefined;
  if (family === 0x1a) return 'Zen 5 (family 0x1A)';
  if (family === 0x19) {
    const zen4 = (model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) || (model >= 0x90 && model <= 0xaf);
    return zen4 ? `Zen 4 (family 0x19, model 0x${model.toString(16)}; AVX-512 on 256-bit units)` : `Zen 3 (family 0x19, model 0x${model.toString(16)})`;
  }
  if (family === 0x17) return 'Zen / Zen 2 (family 0x17)';
  return undefined;
}

export interface LoadSnapshot {
  at: string;
  /** 1, 5 and 15 minute load averages. */
  loadAverage: number[];
  /** `uptime` as printed, when the command exists. */
  uptime?: string;
  /** Per CPU over one second: busy % (user+nice+system+irq+softirq) and steal % (time the host gave to others). */
  perCpu: { cpu: string; busyPercent: number; stealPercent: number }[];
}

function readCpuTimes(): Map<string, number[]> {
  const times = new Map<string, number[]>();
  try {
    for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^(cpu\d+)\s+(.+)$/.exec(line);
      if (m) times.set(m[1], m[2].trim().split(/\s+/).map(Number));
    }
  } catch {
    // No /proc/stat: the snapshot goes without per-CPU figures.
  }
  return times;
}

export async function loadSnapshot(sampleMs = 1000): Promise<LoadSnapshot> {
  const before = readCpuTimes();
  await new Promise((r) => setTimeout(r, sampleMs));
  const after = readCpuTimes();
  const perCpu = [...after].map(([cpu, t]) => {
    const d = t.map((v, i) => v - (before.get(cpu)?.[i] ?? 0));
    // user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = d;
    const total = user + nice + system + idle + iowait + irq + softirq + steal || 1;
    return {
      cpu,
      busyPercent: round1((100 * (user + nice + system + irq + softirq)) / total),
      stealPercent: round1((100 * steal) / total),
    };
  });
  let uptime: string | undefined;
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = undefined;
  }
  return { at: new Date().toISOString(), loadAverage: os.loadavg().map(round2), uptime, perCpu };
}

/**
 * Waits (up to maxWaitMs) for the 1-minute load to fall to `threshold`; returns the snapshots seen.
 * The load average lags: after a busy spell it takes a minute or two to fall, so the wait is bounded.
 */
export async function waitForQuiet(threshold: number, maxWaitMs: number, log: (m: string) => void): Promise<{ snapshot: LoadSnapshot; waitedSeconds: number; quiet: boolean }> {
  const started = Date.now();
  for (;;) {
    const snapshot = await loadSnapshot();
    const quiet = snapshot.loadAverage[0] <= threshold;
    const waited = (Date.now() - started) / 1000;
    if (quiet || Date.now() - started >= maxWaitMs) return { snapshot, waitedSeconds: Math.round(waited), quiet };
    log(`1-minute load ${snapshot.loadAverage[0]} > ${threshold}: waiting for the cores to be free (${Math.round(waited)} s so far, at most ${Math.round(maxWaitMs / 1000)} s)`);
    await new Promise((r) => setTimeout(r, 10_000));
  }
}

export interface PeakResult {
  gflops: number;
  /** 'measured' (the C loop ran here) or 'notes' (no compiler, or it failed). */
  source: 'measured' | 'notes';
  detail: string;
  runs?: number[];
}

// One thread; ACC independent accumulator chains keep both FMA pipes busy despite the FMA latency.
// Every FMA is counted as 2 FLOPs per lane; the loop is exactly iterations × ACC × LANES FMAs.
const FMA_C = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#define LANES 16
#define ACC 16
typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
static float hsum(vec v) { return _mm512_reduce_add_ps(v); }
#define ISA "avx512f"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LANES 8
#define ACC 12
typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
static float hsum(vec v) { float t[8]; _mm256_storeu_ps(t, v); float s = 0; for (int i = 0; i < 8; i++) s += t[i]; return s; }
#define ISA "avx2+fma"
#else
#define LANES 1
#define ACC 8
typedef float vec;
#define SET1(x) (x)
#define FMA(a, b, c) ((a) * (b) + (c))
static float hsum(vec v) { return v; }
#define ISA "scalar"
#endif
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
  long iters = argc > 1 ? atol(argv[1]) : 100000000L;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  double best = 0;
  float sink = 0;
  for (int r = 0; r < reps; r++) {
    vec acc[ACC];
    for (int i = 0; i < ACC; i++) acc[i] = SET1(0.5f + i * 0.01f);
    /* x -> x*m + b converges to b/(1-m): no overflow, no denormals. */
    const vec m = SET1(0.9999999f), b = SET1(1e-7f);
    double t0 = now();
    for (long n = 0; n < iters; n++) {
      for (int i = 0; i < ACC; i++) acc[i] = FMA(acc[i], m, b);
    }
    double dt = now() - t0;
    for (int i = 0; i < ACC; i++) sink += hsum(acc[i]);
    double gflops = (double)iters * ACC * LANES * 2.0 / dt / 1e9;
    printf("run %d %.3f\n", r, gflops);
    if (gflops > best) best = gflops;
  }
  printf("isa %s lanes %d acc %d iters %ld sink %g\n", ISA, LANES, ACC, iters, (double)sink);
  printf("best %.3f\n", best);
  return 0;
}
`;

/** Compiles and runs the FMA loop with `cc -O3 -march=native`; falls back to the notes' figure. */
export function measurePeak(workDir: string, quick: boolean): PeakResult {
  const fallback = (why: string): PeakResult => ({ gflops: NOTES_PEAK_GFLOPS, source: 'notes', detail: `${why}; using ${NOTES_PEAK_SOURCE}` });
  const cc = ['cc', 'gcc', 'clang'].find((c) => spawnSync(c, ['--version']).status === 0);
  if (!cc) return fallback('no C compiler found');
  const src = path.join(workDir, 'fma-peak.c');
  const bin = path.join(workDir, 'fma-peak');
  fs.writeFileSync(src, FMA_C);
  const built = spawnSync(cc, ['-O3', '-march=native', '-o', bin, src], { encoding: 'utf8' });
  if (built.status !== 0) return fallback(`${cc} -O3 -march=native failed: ${(built.stderr || '').trim().split('\n')[0]}`);
  // About 0.2 s per run on a ~270 GFLOP/s core (16 acc × 16 lanes × 2 FLOPs per iteration).
  const iters = quick ? 60_000_000 : 100_000_000;
  const ran = spawnSync(bin, [String(iters), quick ? '3' : '7'], { encoding: 'utf8', timeout: 120_000 });
  if (ran.status !== 0) return fallback(`the FMA loop failed (${ran.error?.message ?? ran.stderr})`);
  const best = Number(/^best ([\d.]+)/m.exec(ran.stdout)?.[1]);
  const isaLine = /^isa .+$/m.exec(ran.stdout)?.[0] ?? '';
  const runs = [...ran.stdout.matchAll(/^run \d+ ([\d.]+)/gm)].map((m) => round1(Number(m[1])));
  if (!(best > 0)) return fallback('the FMA loop printed no result');
  return {
    gflops: round1(best),
    source: 'measured',
    detail: `${cc} -O3 -march=native, one thread, fp32 FMA loop (${isaLine.replace(/ sink \S+/, '')}); best of ${runs.length} runs, FLOPs counted as 2 per FMA lane`,
    runs,
  };
}

export const round1 = (x: number) => Math.round(x * 10) / 10;
export const round2 = (x: number) => Math.round(x * 100) / 100;
