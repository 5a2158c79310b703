/**
 * Progress bars on stderr (cli-progress): count, percentage, rate and ETA. On a terminal the bar
 * redraws in place; otherwise (a pipe, a CI log) it prints a line every few seconds.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  start(total: number, counters?: Record<string, number | string>): void;
  update(value: number, counters?: Record<string, number | string>): void;
  increment(counters?: Record<string, number | string>): void;
  setTotal(total: number): void;
  stop(): void;
}

export interface ProgressOptions {
  /** What is counted, e.g. "images". */
  unit: string;
  /** Extra fields after the rate and ETA, e.g. "imported {imported} skipped {skipped} failed {failed}". */
  extra?: string;
  enabled?: boolean;
  stream?: NodeJS.WritableStream;
}

/** Items per second since `startedAt`, for the bar's {rate} field. */
export function rate(done: number, startedAt: number, now = Date.now()): string {
  const seconds = (now - startedAt) / 1000;
  if (seconds <= 0 || done === 0) return '0.0';
  const r = done / seconds;
  return r >= 100 ? r.toFixed(0) : r.toFixed(1);
}

export function createProgress(options: ProgressOptions): Progress {
  if (options.enabled === false) {
    return { start() {}, update() {}, increment() {}, setTotal() {}, stop() {} };
  }
  const stream = (options.stream ?? process.stderr) as NodeJS.WriteStream;
  const bar = new cliProgress.SingleBar(
    {
      format: `{bar} {percentage}% | {value}/{total} ${options.unit} | {rate} ${options.unit}/s | ETA {eta_formatted}${options.extra ? ` | ${options.extra}` : ''}`,
      stream,
      noTTYOutput: true,
      notTTYSchedule: 2000,
      etaBuffer: 50,
      hideCursor: stream.isTTY ? true : null,
      barsize: 30,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedAt = Date.now();
  let value = 0;
  const payload = (counters?: Record<string, number | string>) => ({ ...counters, rate: rate(value, startedAt) });
  return {
    start(total, counters) {
      startedAt = Date.now();
      value = 0;
      bar.start(total, 0, payload(counters));
    },
    update(v, counters) {
      value = v;
      bar.update(v, payload(counters));
    },
    increment(counters) {
      value += 1;
      bar.update(value, payload(counters));
    },
    setTotal(total) {
      bar.setTotal(total);
    },
    stop() {
      bar.stop();
    },
  };
}
