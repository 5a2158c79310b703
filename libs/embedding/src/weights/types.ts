/** One weight of a layer, as stored in a weights file. `values` is row-major (C order) float32. */
export interface NamedWeight {
  /** The name the file gives it: `conv1/conv/kernel:0` in Keras files, `conv1/conv/kernel` in tfjs ones. */
  name: string;
  shape: number[];
  values: Float32Array;
}

/** Layer name → that layer's weights in the file's order (Keras order for Keras files). */
export type NamedWeights = Map<string /* layer name */, NamedWeight[]>;

/** A weights file that cannot be read, or whose weights do not fit the model. */
export class WeightsError extends Error {
  override readonly name = 'WeightsError';
  /** Every problem found, one line each (the message names only the first few). */
  readonly problems: readonly string[];

  constructor(message: string, problems?: readonly string[], options?: { cause?: unknown }) {
    super(message, options);
    this.problems = problems ?? [message];
  }
}

/**
 * The short name of a weight, without layer prefix, Keras' `:0` or a uniquifying `_1`:
 * `conv1/bn/moving_mean:0` → `moving_mean`, `conv1/conv/kernel_1` → `kernel`.
 */
export function shortWeightName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.replace(/:\d+$/, '').replace(/_\d+$/, '');
}

export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.join(',')}]`;
}

/** Number of elements of a shape; NaN when the shape is not a list of non-negative integers. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) return Number.NaN;
    n *= d;
  }
  return n;
}
