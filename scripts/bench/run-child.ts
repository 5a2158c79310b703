/**
 * Runs scripts/bench/child.ts in a process of its own, one measurement each (bench:embed, and
 * bench:load's model-only reference): a fresh process per figure, so no run warms the next.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import type { ChildMessage, ChildSpec, HostSpec } from './child.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
const childEntry = path.join(repoRoot, 'scripts', 'bench', 'child.ts');
const children = new Set<ChildProcess>();

/** Runs one child to its result; never throws (a crash or a timeout becomes an 'error' message). */
export async function runChild(spec: ChildSpec, timeoutMs: number, onReady?: (child: ChildProcess) => void): Promise<ChildMessage> {
  return new Promise((resolve) => {
    const child = fork(childEntry, [JSON.stringify(spec)], {
      cwd: repoRoot,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
    });
    children.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    let settled: ChildMessage | undefined;
    const timer = setTimeout(() => {
      settled ??= { type: 'error', message: `timed out after ${timeoutMs / 1000} s` };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'ready') onReady?.(child);
      else settled ??= m;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      const lastErr = stderr.trim().split('\n').slice(-3).join(' | ');
      resolve(settled ?? { type: 'error', message: `exited with ${signal ?? `code ${code}`} before reporting${lastErr ? `: ${lastErr}` : ''}` });
    });
  });
}

/** N single-thread host processes, each loaded and warm, told to start at the same moment. */
export async function runHostsTogether(spec: HostSpec, n: number, timeoutMs: number): Promise<ChildMessage[]> {
  const ready: ChildProcess[] = [];
  const onReady = (child: ChildProcess) => {
    ready.push(child);
    if (ready.length === n) for (const c of ready) c.send('go');
  };
  return Promise.all(Array.from({ length: n }, () => runChild(spec, timeoutMs, onReady)));
}

/** Kills every child still running (on the way out, after an error). */
export function killChildren(): void {
  for (const c of children) c.kill('SIGKILL');
}
