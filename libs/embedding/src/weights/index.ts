export { applyNamedWeights } from './apply.js';
export {
  kerasNamedWeights,
  readKerasH5Weights,
  writeKerasH5,
  writeKerasH5Weights,
  type KerasH5WriteOptions,
} from './keras-h5.js';
export { readTfjsLayersWeights, writeTfjsLayersModel, type TfjsLayersModelFiles } from './tfjs-layers.js';
export { shortWeightName, WeightsError, type NamedWeight, type NamedWeights } from './types.js';
