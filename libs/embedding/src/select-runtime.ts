import { existsSync, readdirSync } from 'node:fs';
import type { DenseNetConfig } from './densenet.js';
import { RUNTIME_NAMES, RuntimeUnavailableError, type ModelRuntime, type RuntimeChoice, type RuntimeName } from './model-runtime.js';
import { OnnxEmbeddingRuntime } from './onnx/runtime.js';
import { EmbeddingRuntime } from './runtime.js';

export interface SelectRuntimeOptions extends DenseNetConfig {
  runtime: RuntimeChoice;
  /** Intra-op threads for ONNX Runtime; the tfjs runtimes ignore it. Default 1. */
  threads?: number;
  weightsFile?: string;
  /** Where converted ONNX graphs are cached. */
  cacheDir?: string;
  /** Overrides GPU detection (tests); default: an NVIDIA driver is present. */
  gpu?: boolean;
}

export interface SelectedRuntime {
  runtime: ModelRuntime;
  /** Runtimes `auto` tried before this one, each with why it did not start; empty otherwise. */
  skipped: string[];
}

/** An NVIDIA driver with at least one GPU: the kernel driver lists them under /proc. */
export function detectNvidiaGpu(): boolean {
  try {
    return readdirSync('/proc/driver/nvidia/gpus').length > 0;
  } catch {
    return existsSync('/dev/nvidia0');
  }
}

/**
 * The order `auto` tries. On CPU: onnx-cpu (8× tfjs-wasm here), tfjs-node, tfjs-wasm, tfjs-cpu.
 * GPU runtimes only where a GPU is seen: onnx-cuda first (CUDA 12, native sm_80/89/90), then
 * tfjs-node-gpu (CUDA 11.2 only), then the CPU order, so a GPU node whose CUDA stack is missing
 * still runs, on the fastest CPU runtime.
 */
export function autoRuntimeOrder(gpu: boolean): RuntimeName[] {
  return RUNTIME_NAMES.filter((r) => gpu || (r !== 'onnx-cuda' && r !== 'tfjs-node-gpu'));
}

/** Starts one named runtime; throws (RuntimeUnavailableError where it is simply not there) otherwise. */
export async function startRuntime(name: RuntimeName, options: Omit<SelectRuntimeOptions, 'runtime'>): Promise<ModelRuntime> {
  const model = { blocks: options.blocks, growthRate: options.growthRate, inputSize: options.inputSize, seed: options.seed, weightsFile: options.weightsFile };
  switch (name) {
    case 'onnx-cpu':
    case 'onnx-cuda':
      return OnnxEmbeddingRuntime.create({ ...model, provider: name === 'onnx-cuda' ? 'cuda' : 'cpu', threads: options.threads, cacheDir: options.cacheDir });
    case 'tfjs-node-gpu':
      // Without a usable GPU it loads and quietly runs on the CPU: refuse instead of pretending.
      if (!(options.gpu ?? detectNvidiaGpu())) {
        throw new RuntimeUnavailableError('tfjs-node-gpu: no NVIDIA GPU is visible here (/proc/driver/nvidia/gpus, /dev/nvidia0)');
      }
      return EmbeddingRuntime.create({ ...model, backend: 'node-gpu' });
    case 'tfjs-node':
    case 'tfjs-wasm':
    case 'tfjs-cpu':
      return EmbeddingRuntime.create({ ...model, backend: name.slice('tfjs-'.length) as 'node' | 'wasm' | 'cpu' });
  }
}

/**
 * A named runtime, or with `auto` the first in autoRuntimeOrder() that starts; what was skipped
 * and why is returned for the start-up log. A bad weights file is not a runtime problem: it fails
 * every runtime alike, so `auto` stops at the first such error.
 */
export async function selectRuntime(options: SelectRuntimeOptions): Promise<SelectedRuntime> {
  if (options.runtime !== 'auto') return { runtime: await startRuntime(options.runtime, options), skipped: [] };
  const skipped: string[] = [];
  for (const name of autoRuntimeOrder(options.gpu ?? detectNvidiaGpu())) {
    try {
      return { runtime: await startRuntime(name, options), skipped };
    } catch (error) {
      if ((error as Error).name === 'WeightsError') throw error;
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`MODEL_RUNTIME=auto: no runtime could start:\n  ${skipped.join('\n  ')}`);
}
