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
export { assertRgbImage, IMAGENET_MEAN, IMAGENET_STD, preprocessImage } from './preprocess.js';
export { EmbeddingRuntime, initBackend, type BackendName, type RuntimeOptions } from './runtime.js';
export { ThreadEmbedder, type ThreadEmbedderOptions } from './thread-embedder.js';
