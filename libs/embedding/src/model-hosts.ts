import os from 'node:os';
import type { RgbImage } from '@lookalike/shared/domain/image';
import type { Embedder, ModelInfo } from '@lookalike/shared/ports';
import type { RuntimeName } from './model-runtime.js';
import { ThreadEmbedder, type ThreadEmbedderOptions } from './thread-embedder.js';
import type { ThreadStartup } from './thread-protocol.js';

const GPU_RUNTIMES: readonly RuntimeName[] = ['onnx-cuda', 'tfjs-node-gpu'];

/**
 * How many model hosts (threads, each with its own model) fill this machine: one per GPU runtime
 * (the device is the limit), else one per `threads`-sized share of the cores. Two single-thread
 * hosts beat one host with two intra-op threads on a CPU (no synchronisation inside a forward pass;
 * bench:embed measures both).
 */
export function autoHostCount(runtime: RuntimeName, threadsPerHost: number, cores = os.availableParallelism()): number {
  if (GPU_RUNTIMES.includes(runtime)) return 1;
  return Math.max(1, Math.floor(cores / Math.max(1, threadsPerHost)));
}

/**
 * Several model hosts behind one Embedder. A call goes to the host with the fewest calls in flight,
 * so as many batches run at once as there are hosts; each host answers its own calls.
 */
export class ModelHosts implements Embedder {
  private readonly inFlight: number[];
  readonly info: ModelInfo;

  constructor(
    private readonly hosts: readonly Embedder[],
    /** Which runtime started, what `auto` skipped (from the first host). */
    readonly startup: ThreadStartup,
  ) {
    if (hosts.length === 0) throw new Error('ModelHosts needs at least one host');
    const ids = new Set(hosts.map((h) => h.info.id));
    if (ids.size !== 1) throw new Error(`Model hosts must run one model, got ${[...ids].join(', ')}`);
    this.inFlight = hosts.map(() => 0);
    const first = hosts[0].info;
    this.info = hosts.length === 1 ? first : { ...first, runtime: `${first.runtime} × ${hosts.length} hosts` };
  }

  /** Starts the first host (which settles `auto`), then the others on the same runtime. */
  static async create(options: ThreadEmbedderOptions & { hosts: number | 'auto' }): Promise<ModelHosts> {
    const { hosts: wanted, ...hostOptions } = options;
    const first = await ThreadEmbedder.create(hostOptions);
    const runtime = first.startup.runtime;
    const count = wanted === 'auto' ? autoHostCount(runtime, hostOptions.threads ?? 1) : wanted;
    if (!Number.isInteger(count) || count < 1) {
      await first.close();
      throw new Error(`The number of model hosts must be a positive whole number, got ${count}`);
    }
    const rest = await Promise.allSettled(Array.from({ length: count - 1 }, () => ThreadEmbedder.create({ ...hostOptions, runtime })));
    const started = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await Promise.all(started.map((h) => h.close()));
      throw failed.reason;
    }
    return new ModelHosts(started, first.startup);
  }

  /** Calls that run at once: one per host. */
  get parallelism(): number {
    return this.hosts.length;
  }

  async embed(images: readonly RgbImage[]): Promise<Float32Array[]> {
    let pick = 0;
    for (let i = 1; i < this.hosts.length; i++) if (this.inFlight[i] < this.inFlight[pick]) pick = i;
    this.inFlight[pick]++;
    try {
      return await this.hosts[pick].embed(images);
    } finally {
      this.inFlight[pick]--;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.hosts.map((h) => h.close()));
  }
}
