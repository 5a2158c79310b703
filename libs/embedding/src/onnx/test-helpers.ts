// Shared by the ONNX specs: weights that exercise every part of batch norm, and comparisons.
import * as tf from '@tensorflow/tfjs';
import { shortWeightName } from '../weights/types.js';
import { mulberry32 } from '@lookalike/shared/prng';

/**
 * Fresh models have identity batch norm (gamma 1, beta 0, mean 0, variance 1), which would hide a
 * converter that mixed up the four: give each its own random values, in ranges that keep a deep
 * network's activations finite.
 */
export function randomizeBatchNorm(model: tf.LayersModel, seed: number): void {
  const rand = mulberry32(seed);
  const ranges: Record<string, [number, number]> = { gamma: [0.6, 1.4], beta: [-0.2, 0.2], moving_mean: [-0.2, 0.2], moving_variance: [0.6, 1.6] };
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const values = layer.weights.map((w) => {
      const [lo, hi] = ranges[shortWeightName(w.originalName)]!;
      return tf.tensor(Float32Array.from({ length: w.shape[0]! }, () => lo + (hi - lo) * rand()), [w.shape[0]!]);
    });
    layer.setWeights(values);
    values.forEach((v) => v.dispose());
  }
}

/** Deterministic test pictures with structure at several scales (gradients, stripes, noise). */
export function testImage(size: number, k: number): { width: number; height: number; data: Uint8Array } {
  const rand = mulberry32(1000 + k);
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++)
      for (let c = 0; c < 3; c++) {
        const v = 128 + 90 * Math.sin((x * (c + 1 + k)) / size * 6 + (y * (k + 2)) / size * 4) + 30 * (rand() - 0.5);
        data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return { width: size, height: size, data };
}

/** Largest |a−b| and smallest cosine over pairs of vectors. */
export function agreement(a: readonly Float32Array[], b: readonly Float32Array[]): { maxAbsDiff: number; minCosine: number } {
  let maxAbsDiff = 0;
  let minCosine = 1;
  a.forEach((u, i) => {
    const v = b[i]!;
    let dot = 0;
    let nu = 0;
    let nv = 0;
    u.forEach((x, j) => {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(x - v[j]!));
      dot += x * v[j]!;
      nu += x * x;
      nv += v[j]! * v[j]!;
    });
    minCosine = Math.min(minCosine, dot / Math.sqrt(nu * nv));
  });
  return { maxAbsDiff, minCosine };
}
