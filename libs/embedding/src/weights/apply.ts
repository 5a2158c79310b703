import * as tf from '@tensorflow/tfjs';
import { formatShape, shapeSize, shortWeightName, WeightsError, type NamedWeight, type NamedWeights } from './types.js';

/** How many problems the error message spells out; WeightsError.problems has them all. */
const PROBLEMS_IN_MESSAGE = 5;

function sameShape(a: readonly (number | null)[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The file's weights of one layer in the model's order. When both sides name the same weights
 * (kernel, gamma, beta, moving_mean, …) they are matched by name, so a file that stores them in
 * another order (tfjs puts non-trainable weights last) still loads right; otherwise by position,
 * as Keras itself does.
 */
function orderLikeModel(modelNames: readonly string[], entries: readonly NamedWeight[]): readonly NamedWeight[] {
  const fileNames = entries.map((e) => shortWeightName(e.name));
  const unique = (names: readonly string[]) => new Set(names).size === names.length;
  const byName = new Map(entries.map((e, i) => [fileNames[i]!, e]));
  if (unique(modelNames) && unique(fileNames) && modelNames.every((n) => byName.has(n))) {
    return modelNames.map((n) => byName.get(n)!);
  }
  return entries;
}

/**
 * Loads `weights` into `model`, matching by layer name and checking every shape first: a model layer
 * with weights that the file lacks, a file layer with weights that the model lacks, a different
 * number of weights or a different shape → one WeightsError naming the first few, and the model is
 * left untouched. Weightless layers are ignored on both sides.
 */
export function applyNamedWeights(model: tf.LayersModel, weights: NamedWeights): void {
  const problems: string[] = [];
  const plan: Array<{ layer: tf.LayersModel['layers'][number]; values: Array<{ shape: number[]; values: Float32Array }> }> = [];
  const modelLayers = new Set<string>();

  for (const layer of model.layers) {
    modelLayers.add(layer.name);
    const targets = layer.weights;
    if (targets.length === 0) continue;
    const modelNames = targets.map((v) => shortWeightName(v.originalName));
    const entries = weights.get(layer.name);
    if (!entries || entries.length === 0) {
      problems.push(`${layer.name}: ${targets.length} weights (${modelNames.join(', ')}) in the model, none in the file`);
      continue;
    }
    if (entries.length !== targets.length) {
      problems.push(
        `${layer.name}: ${targets.length} weights in the model (${modelNames.join(', ')}), ` +
          `${entries.length} in the file (${entries.map((e) => e.name).join(', ')})`,
      );
      continue;
    }
    const ordered = orderLikeModel(modelNames, entries);
    const before = problems.length;
    targets.forEach((variable, i) => {
      const entry = ordered[i]!;
      if (variable.dtype !== 'float32') {
        problems.push(`${layer.name}: ${modelNames[i]} is ${variable.dtype} in the model, float32 in the file`);
      } else if (!sameShape(variable.shape, entry.shape)) {
        problems.push(`${layer.name}: ${modelNames[i]} shape ${formatShape(variable.shape)} in the model, ${formatShape(entry.shape)} in the file`);
      } else if (entry.values.length !== shapeSize(entry.shape)) {
        problems.push(`${layer.name}: ${entry.name} has ${entry.values.length} values for shape ${formatShape(entry.shape)} in the file`);
      }
    });
    if (problems.length === before) plan.push({ layer, values: ordered.map((e) => ({ shape: e.shape, values: e.values })) });
  }

  for (const [layerName, entries] of weights) {
    if (!modelLayers.has(layerName) && entries.length > 0) {
      problems.push(`${layerName}: ${entries.length} weights in the file, no such layer in the model`);
    }
  }

  if (problems.length > 0) {
    const shown = problems.slice(0, PROBLEMS_IN_MESSAGE).join('; ');
    const more = problems.length > PROBLEMS_IN_MESSAGE ? `; and ${problems.length - PROBLEMS_IN_MESSAGE} more` : '';
    throw new WeightsError(
      `The weights do not fit model ${model.name} (${problems.length} mismatch${problems.length === 1 ? '' : 'es'}): ${shown}${more}`,
      problems,
    );
  }

  for (const { layer, values } of plan) {
    const tensors = values.map((v) => tf.tensor(v.values, v.shape, 'float32'));
    try {
      layer.setWeights(tensors); // assigns copies into the layer's variables
    } finally {
      tensors.forEach((t) => t.dispose());
    }
  }
}
