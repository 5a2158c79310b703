/**
 * Worker-thread side of ThreadEmbedder: owns the tfjs backend and the model, answers one
 * embed request at a time. Started through embed-thread-boot.mjs, which makes .ts loadable.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { DENSENET_PRESETS } from './densenet.js';
import { EmbeddingRuntime } from './runtime.js';
import { serializeError, type EmbedRequest, type ThreadInit, type ThreadMessage } from './thread-protocol.js';

if (!parentPort) throw new Error('embed-thread must run inside a worker thread');
const port: MessagePort = parentPort;

const send = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

async function start(init: ThreadInit): Promise<void> {
  let runtime: EmbeddingRuntime;
  try {
    const arch = DENSENET_PRESETS[init.preset];
    if (!arch) throw new Error(`Unknown model preset "${init.preset}"`);
    runtime = await EmbeddingRuntime.create({ ...arch, seed: init.seed, backend: init.backend, weightsFile: init.weightsFile });
    // The first predict compiles kernels and allocates buffers; pay that before reporting ready.
    const s = runtime.inputSize;
    const started = performance.now();
    runtime.embed([{ width: s, height: s, data: new Uint8Array(s * s * 3).fill(128) }]);
    const warmupMs = performance.now() - started;
    send({
      type: 'ready',
      warmupMs,
      info: {
        id: runtime.modelId,
        dimension: runtime.dimension,
        inputSize: runtime.inputSize,
        pretrained: runtime.pretrained,
        weightsSource: runtime.weightsSource,
        runtime: `tfjs-${runtime.backend}`,
      },
    });
  } catch (err) {
    send({ type: 'init-error', error: serializeError(err) });
    return;
  }

  port.on('message', (req: EmbedRequest) => {
    try {
      const bytes = req.width * req.height * 3;
      if (req.pixels.length !== req.count * bytes) throw new Error('Embed request pixel buffer has the wrong length');
      const images = Array.from({ length: req.count }, (_, i) => ({
        width: req.width,
        height: req.height,
        data: req.pixels.subarray(i * bytes, (i + 1) * bytes),
      }));
      const vectors = runtime.embed(images);
      send({ type: 'result', id: req.id, vectors }, vectors.map((v) => v.buffer as ArrayBuffer));
    } catch (err) {
      send({ type: 'error', id: req.id, error: serializeError(err) });
    }
  });
}

void start(workerData as ThreadInit);
