/** SIGTERM/SIGINT run the steps once, in order, each bounded, then exit. */
export function onShutdown(steps: Array<() => Promise<unknown>>, log: (msg: string) => void, timeoutMs = 30_000): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: shutting down`);
    const timer = setTimeout(() => process.exit(1), timeoutMs).unref();
    for (const step of steps) await step().catch((e) => log(`shutdown step failed: ${(e as Error).message}`));
    log('stopped');
    clearTimeout(timer);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
