import type { Preprocessing } from '@lookalike/shared/ports';

export const DEFAULT_PREPROCESSING: Preprocessing = Object.freeze({ resize: 'bilinear', crop: 'none' });

/**
 * Model ids name architecture, weights and preprocessing, since each moves the vectors. The default
 * preprocessing adds nothing, so `densenet121:random-seed-1` stays what it has always been.
 */
export function withPreprocessing(id: string, p: Preprocessing): string {
  if (p.resize === DEFAULT_PREPROCESSING.resize && p.crop === DEFAULT_PREPROCESSING.crop) return id;
  return `${id}:${p.resize}${p.crop === 'center' ? '-center-crop' : ''}`;
}
