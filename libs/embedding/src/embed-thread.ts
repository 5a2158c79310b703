/**
 * Worker-thread side of ThreadEmbedder: owns the model runtime (ONNX Runtime or tfjs), answers
 * one embed request at a time. Started through embed-thread-boot.mjs, which makes .ts loadable.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { DENSENET_PRESETS } from './densenet.js';
import type { ModelRuntime } from './model-runtime.js';
import { OnnxEmbeddingRuntime } from './onnx/runtime.js';
import { selectRuntime } from './select-runtime.js';
import { serializeError, type EmbedRequest, type ThreadInit, type ThreadMessage } from './thread-protocol.js';

if (!parentPort) throw new Error('embed-thread must run inside a worker thread');
const port: MessagePort = parentPort;

const send = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function start(init: ThreadInit): Promise<void> {
  let runtime: ModelRuntime;
  try {
    const arch = DENSENET_PRESETS[init.preset];
    if (!arch) throw new Error(`Unknown model preset "${init.preset}"`);
    const selected = await selectRuntime({ ...arch, seed: init.seed, runtime: init.runtime, threads: init.threads, cacheDir: init.cacheDir, weightsFile: init.weightsFile });
    runtime = selected.runtime;
    // The first run compiles kernels and allocates buffers; pay that before reporting ready.
    // A batch of the size the worker will send warms that shape too (cuDNN picks its kernels per shape).
    const s = runtime.inputSize;
    const started = performance.now();
    const warmupBatches = init.warmup ? [...new Set([1, Math.max(1, init.warmupBatch)])] : [];
    const grey = { width: s, height: s, data: new Uint8Array(s * s * 3).fill(128) };
    for (const n of warmupBatches) await runtime.embed(Array.from({ length: n }, () => grey));
    const warmupMs = init.warmup ? performance.now() - started : 0;
    const cache = runtime instanceof OnnxEmbeddingRuntime ? runtime.cache : undefined;
    send({
      type: 'ready',
      warmupMs,
      warmupBatches,
      info: {
        id: runtime.modelId,
        dimension: runtime.dimension,
        inputSize: runtime.inputSize,
        pretrained: runtime.pretrained,
        weightsSource: runtime.weightsSource,
        runtime: runtime.description,
      },
      startup: {
        runtime: runtime.name,
        skipped: selected.skipped,
        graphCache: cache && `${cache.outcome}${cache.file ? ` ${cache.file}` : ''}${cache.reason ? ` (${cache.reason})` : ''}`,
      },
    });
  } catch (err) {
    send({ type: 'init-error', error: serializeError(err) });
    return;
  }

  // ORT's run() is a promise: chain requests so batches never interleave on the one session.
  let queue: Promise<void> = Promise.resolve();
  port.on('message', (req: EmbedRequest) => {
    queue = queue.then(async () => {
      try {
        const bytes = req.width * req.height * 3;
        if (req.pixels.length !== req.count * bytes) throw new Error('Embed request pixel buffer has the wrong length');
        const images = Array.from({ length: req.count }, (_, i) => ({
          width: req.width,
          height: req.height,
          data: req.pixels.subarray(i * bytes, (i + 1) * bytes),
        }));
        const vectors = await runtime.embed(images);
        send({ type: 'result', id: req.id, vectors }, vectors.map((v) => v.buffer as ArrayBuffer));
      } catch (err) {
        send({ type: 'error', id: req.id, error: serializeError(err) });
      }
    });
  });
}

void start(workerData as ThreadInit);
