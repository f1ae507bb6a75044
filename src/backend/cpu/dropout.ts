import { ArgumentError } from '../../core/errors.js';
import type { Dropout } from '../ops.js';

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
export interface DropoutParams { seedHash: number; threshold: number; scale: number }
export function dropoutParams(p: number, seed: number): DropoutParams {
  return { seedHash: hash32(seed), threshold: Math.min(2 ** 32 - 1, Math.floor(p * 2 ** 32)), scale: Math.fround(1 / (1 - p)) };
}

/** Whether mask element i of a dropout with these parameters (dropoutParams) keeps its value. */
export function kept(i: number, seedHash: number, threshold: number): boolean {
  return hash32(i + seedHash) >= threshold;
}

/**
 * The mask index of attention probability (b, h, t, s) of (B, H, T, S) probabilities (query t, key s): the index
 * of that element were the probabilities stored, ((b H + h) T + t) S + s. Kernels compute it in u32 arithmetic,
 * which wraps as hash32's input does.
 */
export function probabilityIndex(b: number, h: number, t: number, s: number, heads: number, time: number, keys: number): number {
  return ((b * heads + h) * time + t) * keys + s;
}

/** out = dropout(x): x[i] * scale where element i is kept, else 0. */
export function dropout(out: Float32Array, x: Float32Array, p: number, seed: number): void {
  const { seedHash, threshold, scale } = dropoutParams(p, seed);
  for (let i = 0; i < x.length; i++) out[i] = kept(i, seedHash, threshold) ? x[i]! * scale : 0;
}

/** The kernels' parameters of an optional dropout (checked), or undefined where there is none to apply (p = 0). */
export function maybeDropoutParams(dropout: Dropout | undefined): DropoutParams | undefined {
  if (!dropout) return undefined;
  checkDropout(dropout.p, dropout.seed);
  return dropout.p > 0 ? dropoutParams(dropout.p, dropout.seed) : undefined;
}

/**
 * A kernel's dropout arguments where the kernel adds mask indices from `firstIndex` on: seedHash + firstIndex
 * (mod 2^32), the threshold (0 keeps all) and the scale; [0, 0, 1] without a dropout.
 */
export function dropoutArgs(drop: DropoutParams | undefined, firstIndex: number): [number, number, number] {
  return drop ? [(drop.seedHash + firstIndex) >>> 0, drop.threshold, drop.scale] : [0, 0, 1];
}

/** The rate must lie in [0, 1) and the seed be an integer (backends check before they draw). */
export function checkDropout(p: number, seed: number): void {
  if (!(p >= 0 && p < 1)) throw new ArgumentError('dropout rate', 'a number in [0, 1)', String(p));
  if (!Number.isInteger(seed)) throw new ArgumentError('dropout seed', 'an integer', String(seed));
}
