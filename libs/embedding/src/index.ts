export {
  buildDenseNet,
  denseNetDimension,
  denseNetModelId,
  DENSENET121,
  DENSENET_PRESETS,
  DENSENET_TINY,
  type DenseNetArchitecture,
  type DenseNetConfig,
  type DenseNetPreset,
} from './densenet.js';
export { RUNTIME_NAMES, RuntimeUnavailableError, type ModelRuntime, type RuntimeChoice, type RuntimeName } from './model-runtime.js';
export { OnnxEmbeddingRuntime, type OnnxProvider, type OnnxRuntimeOptions } from './onnx/runtime.js';
export { assertRgbImage, IMAGENET_MEAN, IMAGENET_STD, preprocessImage } from './preprocess.js';
export { EmbeddingRuntime, initBackend, type BackendName, type RuntimeOptions } from './runtime.js';
export { autoRuntimeOrder, detectNvidiaGpu, selectRuntime, type SelectedRuntime, type SelectRuntimeOptions } from './select-runtime.js';
export { ThreadEmbedder, type ThreadEmbedderOptions } from './thread-embedder.js';
export type { ThreadStartup } from './thread-protocol.js';
export { autoHostCount, ModelHosts } from './model-hosts.js';
