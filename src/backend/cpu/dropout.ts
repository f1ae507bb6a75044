import { ArgumentError } from '../../core/errors.js';

/**
 * Dropout with a mask that is a pure function of (seed, element index), so that every backend draws the same mask
 * and the backward pass redraws it instead of storing it: element i is kept when hash32(i + hash32(seed)) >= p 2^32,
 * and kept elements are scaled by 1 / (1 - p) (rounded to f32), so the expected value is unchanged. hash32 is
 * "lowbias32" (C. Wellons), two multiply-xorshift rounds, cheap in JS (Math.imul) and WGSL (u32 arithmetic wraps).
 */

export function hash32(v: number): number {
  let x = v >>> 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** What the kernels take for a dropout of rate p with a seed: seedHash, the keep threshold, the f32 scale. */
export function dropoutParams(p: number, seed: number): { seedHash: number; threshold: number; scale: number } {
  return { seedHash: hash32(seed), threshold: Math.min(2 ** 32 - 1, Math.floor(p * 2 ** 32)), scale: Math.fround(1 / (1 - p)) };
}

/** out = dropout(x): x[i] * scale where element i is kept, else 0. */
export function dropout(out: Float32Array, x: Float32Array, p: number, seed: number): void {
  const { seedHash, threshold, scale } = dropoutParams(p, seed);
  for (let i = 0; i < x.length; i++) out[i] = hash32(i + seedHash) >= threshold ? x[i]! * scale : 0;
}

/** The rate must lie in [0, 1) and the seed be an integer (backends check before they draw). */
export function checkDropout(p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new ArgumentError('dropout rate', 'a number in [0, 1)', String(p));
  if (!Number.isInteger(seed)) throw new ArgumentError('dropout seed', 'an integer', String(seed));
}
