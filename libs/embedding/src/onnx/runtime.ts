import type { RgbImage } from '@lookalike/shared/domain/image';
import type * as Ort from 'onnxruntime-node';
import { buildDenseNet, denseNetDimension, type DenseNetConfig } from '../densenet.js';
import {
  l2NormalizeRows,
  resolveModelWeights,
  RuntimeUnavailableError,
  type ModelIdentity,
  type ModelRuntime,
  type ModelWeights,
} from '../model-runtime.js';
import { preprocessBatch } from '../preprocess.js';
import { ensureScratchBackend } from '../runtime.js';
import { applyNamedWeights } from '../weights/apply.js';
import { cachedOnnxGraph, type CachedGraph, type CacheOutcome } from './cache.js';
import { convertLayersModel, ONNX_INPUT, ONNX_OUTPUT } from './convert.js';

type OrtModule = typeof Ort;

export type OnnxProvider = 'cpu' | 'cuda';

export interface OnnxRuntimeOptions extends DenseNetConfig {
  /** A Keras .h5 or tfjs model.json to load; unset: the seeded random weights. */
  weightsFile?: string;
  /** ORT execution provider; default cpu. */
  provider?: OnnxProvider;
  /** Intra-op threads (ORT's own pool); default 1: one single-thread host per core measured best here. */
  threads?: number;
  /** CUDA device ordinal for provider 'cuda'; default 0. */
  deviceId?: number;
  /** Where converted graphs are kept (keyed by model id); unset: convert in memory on every start. */
  cacheDir?: string;
}

let ortModule: Promise<OrtModule> | undefined;

/** onnxruntime-node is an optional dependency: absent (npm ci --omit=optional) is an error that says so. */
export function loadOnnxRuntime(): Promise<OrtModule> {
  ortModule ??= import('onnxruntime-node').then(
    // A CommonJS package: Node's ESM loader may put it under `default`.
    (m) => ('InferenceSession' in m ? m : (m as unknown as { default: OrtModule }).default),
    (error: Error) => {
      ortModule = undefined;
      throw new RuntimeUnavailableError(
        `onnxruntime-node could not be loaded (${error.message}). It is an optional dependency of @lookalike/embedding: ` +
          'run npm ci without --omit=optional, or pick a tfjs MODEL_RUNTIME.',
      );
    },
  );
  return ortModule;
}

/** Builds the tfjs model with the given weights and converts it: the ONNX graph always comes from the one definition. */
async function convertDenseNet(options: DenseNetConfig, weights: ModelWeights): Promise<Uint8Array> {
  // Any tfjs backend can hold the weights for a moment; this does not pin the thread's tfjs backend.
  await ensureScratchBackend();
  const fileWeights = await weights.loadWeights?.();
  const model = buildDenseNet(options);
  try {
    if (fileWeights) applyNamedWeights(model, fileWeights);
    return convertLayersModel(model, { metadata: { model_id: weights.modelId, weights_source: weights.weightsSource } });
  } finally {
    model.dispose();
  }
}

/**
 * The model's identity and ONNX graph. The weights file is decoded only to convert (a cache miss);
 * the decoded weights are unreachable once this returns, so they do not stay in memory beside the session.
 */
async function resolveOnnxGraph(options: OnnxRuntimeOptions): Promise<{ model: ModelIdentity; graph: CachedGraph }> {
  const weights = await resolveModelWeights(options);
  const graph = await cachedOnnxGraph(options.cacheDir, weights.modelId, () => convertDenseNet(options, weights));
  const { modelId, pretrained, weightsSource } = weights;
  return { model: { modelId, pretrained, weightsSource }, graph };
}

/** The DenseNet feature extractor on ONNX Runtime (CPU or CUDA provider); same weights and id as the tfjs runtime. */
export class OnnxEmbeddingRuntime implements ModelRuntime {
  private constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    readonly modelId: string,
    readonly dimension: number,
    readonly inputSize: number,
    readonly pretrained: boolean,
    readonly weightsSource: string,
    readonly provider: OnnxProvider,
    readonly threads: number,
    readonly deviceId: number,
    /** How the graph was found: converted now ('miss', 'rebuilt', 'uncached') or read from the cache ('hit'). */
    readonly cache: { outcome: CacheOutcome; file?: string; reason?: string },
  ) {}

  static async create(options: OnnxRuntimeOptions): Promise<OnnxEmbeddingRuntime> {
    const provider = options.provider ?? 'cpu';
    const threads = options.threads ?? 1;
    const deviceId = options.deviceId ?? 0;
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`ONNX Runtime threads must be a positive integer, got ${threads}`);
    // Load ORT before converting anything: a missing package should fail fast and cheap.
    const ort = await loadOnnxRuntime();
    const { model, graph } = await resolveOnnxGraph(options);

    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      // `all` lets ORT use its blocked NCHWc kernels and fold every BatchNormalization: 1.45× over `basic` here.
      graphOptimizationLevel: 'all',
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      // Spinning workers halve throughput when a core is shared (other hosts, sharp's decoding).
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
      executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId }] : ['cpu'],
    };
    let session: Ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(graph.bytes, sessionOptions);
    } catch (error) {
      const message = (error as Error).message;
      if (provider === 'cuda') {
        throw new RuntimeUnavailableError(
          `onnx-cuda: ONNX Runtime could not start its CUDA provider on device ${deviceId} (${message}). It needs the CUDA 12 ` +
            'provider libraries (install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12), CUDA 12, cuDNN 9 and an NVIDIA driver.',
        );
      }
      throw new Error(`ONNX Runtime could not load the graph of ${model.modelId}${graph.file ? ` (${graph.file})` : ''}: ${message}`);
    }
    if (!session.inputNames.includes(ONNX_INPUT) || !session.outputNames.includes(ONNX_OUTPUT)) {
      await session.release();
      throw new Error(`The ONNX graph of ${model.modelId} lacks input "${ONNX_INPUT}" or output "${ONNX_OUTPUT}"`);
    }
    return new OnnxEmbeddingRuntime(
      ort,
      session,
      model.modelId,
      denseNetDimension(options),
      options.inputSize,
      model.pretrained,
      model.weightsSource,
      provider,
      threads,
      deviceId,
      { outcome: graph.outcome, file: graph.file, reason: graph.reason },
    );
  }

  get name(): 'onnx-cpu' | 'onnx-cuda' {
    return `onnx-${this.provider}`;
  }

  get description(): string {
    return this.provider === 'cuda' ? `onnx-cuda (device ${this.deviceId})` : `onnx-cpu (${this.threads} thread${this.threads === 1 ? '' : 's'})`;
  }

  /** One L2-normalised vector per image. ORT computes on the calling thread: run this off the event loop. */
  async embed(images: readonly RgbImage[]): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    const s = this.inputSize;
    const pixels = preprocessBatch(images, s, this.modelId);
    const input = new this.ort.Tensor('float32', pixels, [images.length, s, s, 3]);
    const result = await this.session.run({ [ONNX_INPUT]: input });
    const features = result[ONNX_OUTPUT]!;
    try {
      const dims = features.dims;
      if (dims.length !== 2 || dims[0] !== images.length || dims[1] !== this.dimension) {
        throw new Error(`The ONNX graph of ${this.modelId} returned shape [${dims.join(', ')}], expected [${images.length}, ${this.dimension}]`);
      }
      return l2NormalizeRows(features.data as Float32Array, images.length, this.dimension);
    } finally {
      features.dispose();
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
