/**
 * Child processes of the load benchmark (API, workers, redis-server, the PGlite host), their
 * clean-up, and what /proc says about them: CPU seconds per process and per thread, RSS.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '@lookalike/shared/local-redis';
import pg from 'pg';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

// ---------------------------------------------------------------------------------------------
// Clean-up: everything started is registered here and torn down in reverse order, on success,
// on an error, on SIGINT/SIGTERM, and (synchronously, SIGKILL) when the process exits anyway.

type Step = { name: string; run: () => Promise<void> };
const steps: Step[] = [];
const childPids = new Set<number>();
const tempDirs = new Set<string>();
let installed = false;

export function onCleanup(name: string, run: () => Promise<void>): () => void {
  const step = { name, run };
  steps.push(step);
  return () => {
    const i = steps.indexOf(step);
    if (i >= 0) steps.splice(i, 1);
  };
}

/** Runs every registered step (newest first); never throws. */
export async function cleanupAll(): Promise<void> {
  while (steps.length > 0) {
    const step = steps.pop()!;
    try {
      await withTimeout(step.run(), 15_000, step.name);
    } catch (e) {
      console.error(`clean-up of ${step.name} failed: ${(e as Error).message}`);
    }
  }
  killAllSync();
}

function killAllSync(): void {
  for (const pid of childPids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  childPids.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

export function installSignalHandlers(): void {
  if (installed) return;
  installed = true;
  let stopping = false;
  const stop = (code: number) => {
    if (stopping) return;
    stopping = true;
    void cleanupAll().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => stop(130));
  process.on('SIGTERM', () => stop(143));
  process.on('SIGHUP', () => stop(129));
  process.on('uncaughtException', (e) => {
    console.error('uncaught exception:', e);
    stop(1);
  });
  process.on('unhandledRejection', (e) => {
    console.error('unhandled rejection:', e);
    stop(1);
  });
  // Last resort: whatever is still registered dies with us.
  process.on('exit', killAllSync);
}

export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  onCleanup(`temp dir ${dir}`, async () => {
    await fs.rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  });
  return dir;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** The last ~64 KB of stdout and stderr, for error messages. */
  output(): string;
  alive(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

function track(name: string, child: ChildProcess): Proc {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const pid = child.pid;
  childPids.add(pid);
  let buffer = '';
  const keep = (d: Buffer) => {
    buffer += d.toString();
    if (buffer.length > 65_536) buffer = buffer.slice(-32_768);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const alive = () => child.exitCode === null && child.signalCode === null;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: Proc = {
    name,
    child,
    pid,
    output: () => buffer,
    alive,
    async stop(graceMs = 5000) {
      if (alive()) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => alive() && child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      childPids.delete(pid);
    },
  };
  onCleanup(name, () => proc.stop());
  return proc;
}

export async function waitFor(fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string, proc?: Proc): Promise<void> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return;
    if (proc && !proc.alive()) throw new Error(`${proc.name} exited while waiting for ${what}:\n${proc.output().slice(-4000)}`);
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${proc ? `:\n${proc.output().slice(-4000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** A redis-server of our own (as startLocalRedis starts it, no persistence), so its pid is known. */
export async function startRedis(dir: string): Promise<{ proc: Proc; url: string; port: number }> {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new Error('redis-server is not installed (apt-get install redis-server)');
  await fs.mkdir(dir, { recursive: true });
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track('redis-server', child);
  await waitFor(() => portOpen(port), 10_000, 'redis-server to listen', proc);
  return { proc, url: `redis://127.0.0.1:${port}`, port };
}

// Extra node flags for every API and worker process (--cpu-prof: node refuses it in NODE_OPTIONS).
let serviceNodeFlags: string[] = [];

/** API and worker processes write V8 CPU profiles (.cpuprofile) into `dir` when they exit. */
export function profileServicesInto(dir: string): void {
  serviceNodeFlags = ['--cpu-prof', '--cpu-prof-dir', dir];
}

/** `npm run start:api` / `start:worker` as deployed: node with tsx on the entry file, env from `env`. */
export async function startService(kind: 'api' | 'worker', name: string, env: Record<string, string>): Promise<Proc & { port: number }> {
  const port = await freePort();
  const entry = kind === 'api' ? 'apps/api/src/main.ts' : 'apps/worker/src/main.ts';
  const child = spawn(process.execPath, [...serviceNodeFlags, '--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(name, child);
  const ready = kind === 'api' ? 'API listening' : 'worker taking jobs';
  await waitFor(() => proc.output().includes(ready), 180_000, `${name} to be ready`, proc);
  return { ...proc, port };
}

/** PGlite (in memory, pgvector) served over the wire by test/helpers/pglite-wire.ts, in a process of its own. */
export async function startPgliteHost(): Promise<Proc & { port: number; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts/bench-load/pglite-host.ts'), String(port)], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track('pglite-host', child);
  await waitFor(() => proc.output().includes('pglite-wire listening'), 60_000, 'the PGlite host to listen', proc);
  return { ...proc, port, url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` };
}

/**
 * A native PostgreSQL (initdb and postgres from PATH or /usr/lib/postgresql/N/bin) with pgvector
 * installed, in a fresh data directory: the database of a real deployment, for comparing its CPU
 * per upload with PGlite's. Postgres refuses to run as root: as root it runs as the `postgres` user.
 * Default settings, fsync included, but for listening on 127.0.0.1 and its socket in the data dir.
 */
export async function startNativePostgres(dir: string): Promise<Proc & { port: number; url: string; version: string }> {
  const bin = (name: string) => {
    const onPath = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
    if (onPath) return onPath;
    const versions = readdirSafe('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const candidate = `/usr/lib/postgresql/${v}/bin/${name}`;
      if (spawnSync(candidate, ['--version']).status === 0) return candidate;
    }
    throw new Error(`${name} not found: install PostgreSQL (e.g. apt-get install postgresql-15) and pgvector`);
  };
  const postgres = bin('postgres');
  const initdb = bin('initdb');
  const version = spawnSync(postgres, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const asUser: { uid?: number; gid?: number } = {};
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) throw new Error('running as root, and there is no postgres user to run PostgreSQL as');
    Object.assign(asUser, { uid, gid });
  }
  const data = path.join(dir, 'pgdata');
  await fs.mkdir(data, { recursive: true, mode: 0o700 });
  if (asUser.uid !== undefined) {
    await fs.chown(dir, asUser.uid, asUser.gid!);
    await fs.chown(data, asUser.uid, asUser.gid!);
  }
  const init = spawnSync(initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'], { encoding: 'utf8', ...asUser });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freePort();
  const child = spawn(postgres, ['-D', data, '-p', String(port), '-k', data, '-c', 'listen_addresses=127.0.0.1'], {
    cwd: dir,
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...asUser,
  });
  const proc = track('postgres', child);
  await waitFor(() => proc.output().includes('ready to accept connections'), 60_000, 'PostgreSQL to accept connections', proc);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("SELECT default_version AS v FROM pg_available_extensions WHERE name = 'vector'");
    if (!rows[0]) throw new Error(`pgvector is not installed for ${version}: build it from source against postgresql-server-dev (make && make install)`);
    return { ...proc, port, url, version: `${version.replace(/^postgres \(PostgreSQL\) /, 'PostgreSQL ')}, pgvector ${rows[0].v}` };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// /proc

const TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** utime + stime of a process (all its threads, dead ones included) or of one thread, in seconds. */
function cpuFromStat(statPath: string): number | null {
  try {
    const fields = statFields(readFileSync(statPath, 'utf8'));
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return null;
  }
}

export function cpuSeconds(pid: number): number | null {
  return cpuFromStat(`/proc/${pid}/stat`);
}

/**
 * A process with its children: its own CPU, what its reaped children used (cutime + cstime) and
 * what its live children have used so far. For the postmaster that is all of Postgres: backends
 * come and go within a window, and a reaped one moves from "live" to cutime without loss.
 */
export function treeCpuSeconds(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const f = statFields(stat);
  let total = (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / TICKS;
  for (const child of liveChildren(pid)) total += (Number(child.fields[11]) + Number(child.fields[12])) / TICKS;
  return total;
}

/** The fields of /proc/PID/stat after the command name (field 3 on, so [1] is the parent pid). */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The live children of `pid`, with their stat fields (statFields). */
function liveChildren(pid: number): { pid: string; fields: string[] }[] {
  const children: { pid: string; fields: string[] }[] = [];
  for (const entry of readdirSafe('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (Number(fields[1]) === pid) children.push({ pid: entry, fields });
    } catch {
      /* gone */
    }
  }
  return children;
}

export function threadCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  try {
    for (const tid of readdirSafe(`/proc/${pid}/task`)) {
      const s = cpuFromStat(`/proc/${pid}/task/${tid}/stat`);
      if (s !== null) out.set(Number(tid), s);
    }
  } catch {
    /* gone */
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface MemoryReading {
  /** Peak resident set (VmHWM), MiB. */
  peakMiB: number | null;
  /** Resident set now (VmRSS), MiB. */
  rssMiB: number | null;
}

export function memory(pid: number): MemoryReading {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
    };
    return { peakMiB: kb('VmHWM'), rssMiB: kb('VmRSS') };
  } catch {
    return { peakMiB: null, rssMiB: null };
  }
}

/**
 * A process and its live children together (the postmaster and its backends): the sum of their
 * proportional set sizes (Pss, /proc/PID/smaps_rollup), MiB, so that memory they share (Postgres'
 * shared buffers) is counted once, not once per backend as RSS would. Linux has no peak of it.
 */
export function treePssMiB(pid: number): number | null {
  const pss = (p: number | string): number | null => {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      return m ? Number(m[1]) : null;
    } catch {
      return null;
    }
  };
  let kb = pss(pid);
  if (kb === null) return null;
  for (const child of liveChildren(pid)) kb += pss(child.pid) ?? 0;
  return Math.round(kb / 102.4) / 10;
}

/** Resets a process's VmHWM to its current RSS (Linux ≥ 4.0); false where not allowed. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * CPU accounting over a window: per process (and per thread, to tell a worker's model thread
 * from its main thread), read from /proc at start() and at stop().
 */
export class CpuWindow {
  private startedAt = 0;
  private readonly before = new Map<number, { total: number; threads: Map<number, number> }>();
  private readonly lastSeen = new Map<number, { total: number; threads: Map<number, number> }>();
  private timer: NodeJS.Timeout | null = null;
  private machineBefore = machineTicks();

  /** `tree`: count the process's children too (treeCpuSeconds), for a multi-process server. */
  constructor(private readonly procs: { name: string; pid: number; tree?: boolean }[]) {}

  private total(p: { pid: number; tree?: boolean }): number | null {
    return p.tree ? treeCpuSeconds(p.pid) : cpuSeconds(p.pid);
  }

  start(): void {
    this.startedAt = performance.now();
    this.machineBefore = machineTicks();
    for (const p of this.procs) this.before.set(p.pid, { total: this.total(p) ?? 0, threads: threadCpu(p.pid) });
    // Threads that end in the window would take their CPU with them: keep a recent reading.
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
  }

  private sample(): void {
    for (const p of this.procs) {
      const total = this.total(p);
      if (total !== null) this.lastSeen.set(p.pid, { total, threads: threadCpu(p.pid) });
    }
  }

  stop(): CpuReport {
    this.sample();
    if (this.timer) clearInterval(this.timer);
    const wallSeconds = (performance.now() - this.startedAt) / 1000;
    const rows = this.procs.map((p) => {
      const a = this.before.get(p.pid);
      const b = this.lastSeen.get(p.pid);
      const seconds = a && b ? Math.max(0, b.total - a.total) : 0;
      const threads = [...(b?.threads ?? new Map<number, number>())]
        .map(([tid, s]) => ({ tid, main: tid === p.pid, seconds: Math.max(0, s - (a?.threads.get(tid) ?? 0)) }))
        .sort((x, y) => y.seconds - x.seconds);
      return { name: p.name, pid: p.pid, seconds, threads };
    });
    const total = rows.reduce((s, r) => s + r.seconds, 0);
    const m = machineTicks();
    const busy = m.busy - this.machineBefore.busy;
    const all = busy + (m.idle - this.machineBefore.idle);
    return {
      wallSeconds,
      cores: os.cpus().length,
      totalCpuSeconds: total,
      /** Share of the machine's CPU (wall × cores) these processes used. */
      machineUtilisation: total / (wallSeconds * os.cpus().length),
      /** Share of the machine's CPU busy with anything (/proc/stat): well above machineUtilisation means other load. */
      machineBusy: all > 0 ? busy / all : Number.NaN,
      processes: rows,
    };
  }
}

/** Busy and idle ticks of the whole machine (first line of /proc/stat). */
function machineTicks(): { busy: number; idle: number } {
  try {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f.map(Number);
    return { busy: user + nice + system + irq + softirq + (steal || 0), idle: idle + iowait };
  } catch {
    return { busy: 0, idle: 0 };
  }
}

export interface CpuReport {
  wallSeconds: number;
  cores: number;
  totalCpuSeconds: number;
  machineUtilisation: number;
  machineBusy: number;
  processes: { name: string; pid: number; seconds: number; threads: { tid: number; main: boolean; seconds: number }[] }[];
}
