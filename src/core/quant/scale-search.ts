/**
 * The scale searches of ggml's k-quant reference quantizers, in f32 in ggml's order of operations. A group x of n
 * values is fitted as x ≈ scale·L (+ min) with integer levels L; each search tries a few scales near the obvious
 * one and keeps the best by weighted squared error.
 */
import { f, nearestInt } from './float32.js';

/** Values below this magnitude count as an all-zero group (ggml's GROUP_MAX_EPS). */
export const groupMaxEps = f(1e-15);

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** Levels of x[i] against (scale 1/iscale, offset min), clamped to 0..nmax: nearest_int(iscale·(x − min)). */
function levels(x: Float32Array, iscale: number, min: number, nmax: number, into: Uint8Array): void {
  for (let i = 0; i < x.length; i++) into[i] = clamp(nearestInt(f(iscale * f(x[i]! - min))), 0, nmax);
}

/** Σ w·(scale·L + min − x)², accumulated in f32. */
function weightedError(x: Float32Array, w: Float32Array, levels: Uint8Array, scale: number, min: number): number {
  let error = 0;
  for (let i = 0; i < x.length; i++) {
    const diff = f(f(f(scale * levels[i]!) + min) - x[i]!);
    error = f(error + f(w[i]! * f(diff * diff)));
  }
  return error;
}

/**
 * ggml's make_qkx2_quants (squared error): x ≈ scale·L − theMin with L in 0..nmax and theMin ≥ 0. Starts from
 * the range [min(0, min x), max x] split into nmax steps, then for iscale = (nmax + rmin + rdelta·k) / (max − min),
 * k = 0..nstep, solves the weighted least squares for (scale, min) given those levels (min forced ≤ 0) and keeps
 * the lowest error. Like ggml, later trials measure from the best min found so far, not from min(0, min x). Writes the levels into `L` (length n = x.length) and returns [scale, theMin].
 */
export function makeQkx2Quants(
  x: Float32Array, w: Float32Array, nmax: number, L: Uint8Array, rmin: number, rdelta: number, nstep: number,
): [number, number] {
  let min = x[0]!;
  let max = x[0]!;
  let sumW = w[0]!;
  let sumX = f(sumW * x[0]!);
  for (let i = 1; i < x.length; i++) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    sumW = f(sumW + w[i]!);
    sumX = f(sumX + f(w[i]! * x[i]!));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0);
    return [0, -min];
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  levels(x, iscale, min, nmax, L);
  let bestError = weightedError(x, w, L, scale, min);
  const trial = new Uint8Array(x.length);
  for (let k = 0; k <= nstep; k++) {
    iscale = f(f(f(rmin + f(rdelta * k)) + nmax) / f(max - min)); // min is the best fit's so far, as in ggml
    levels(x, iscale, min, nmax, trial);
    const fit = fitScaleMin(x, w, trial, sumW, sumX);
    if (!fit) continue;
    const error = weightedError(x, w, trial, fit[0], fit[1]);
    if (error < bestError) {
      L.set(trial);
      bestError = error;
      [scale, min] = fit;
    }
  }
  return [scale, -min];
}

/**
 * Weighted least squares of x ≈ scale·L + min for fixed levels L (Cramer's rule on the 2x2 normal equations, in
 * f32); when the best min is positive, min = 0 and scale = Σwlx / Σwl². Undefined when the system is singular.
 */
function fitScaleMin(x: Float32Array, w: Float32Array, L: Uint8Array, sumW: number, sumX: number): [number, number] | undefined {
  let sumL = 0;
  let sumL2 = 0;
  let sumXL = 0;
  for (let i = 0; i < x.length; i++) {
    const wl = f(w[i]! * L[i]!);
    sumL = f(sumL + wl);
    sumL2 = f(sumL2 + f(wl * L[i]!));
    sumXL = f(sumXL + f(wl * x[i]!));
  }
  const det = f(f(sumW * sumL2) - f(sumL * sumL));
  if (!(det > 0)) return undefined;
  const scale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / det);
  const min = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / det);
  return min > 0 ? [f(sumXL / sumL2), 0] : [scale, min];
}

/**
 * ggml's make_qx_quants with rmse_type 1 (weights x²) and no importance weights: x ≈ scale·(L − nmax) with L in
 * 0..2·nmax−1. The value m of largest magnitude maps to level −nmax; then the scales −(nmax + 0.1·k) / m for
 * k = ±1..±9 are tried and the one maximizing (Σwxl)² / Σwl² (least-squares error) is kept. Writes the levels
 * into `L` (length n = x.length) and returns the scale (0 for an all-zero group).
 */
export function makeQxQuants(x: Float32Array, nmax: number, L: Uint8Array): number {
  let max = 0;
  let amax = 0;
  for (const v of x) {
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  if (amax < groupMaxEps) {
    L.fill(0);
    return 0;
  }
  let [sumLX, sumL2] = signedLevels(x, f(-nmax / max), nmax, L);
  let scale = sumL2 ? f(sumLX / sumL2) : 0;
  let best = f(scale * sumLX);
  const trial = new Uint8Array(x.length);
  for (let k = -9; k <= 9; k++) {
    if (k === 0) continue;
    [sumLX, sumL2] = signedLevels(x, f(-f(nmax + f(f(0.1) * k)) / max), nmax, trial);
    if (sumL2 > 0 && f(sumLX * sumLX) > f(best * sumL2)) {
      L.set(trial);
      scale = f(sumLX / sumL2);
      best = f(scale * sumLX);
    }
  }
  return scale;
}

/** Levels l = nearest_int(iscale·x) clamped to −nmax..nmax−1, stored as l + nmax; returns [Σ x²·x·l, Σ x²·l·l]. */
function signedLevels(x: Float32Array, iscale: number, nmax: number, into: Uint8Array): [number, number] {
  let sumLX = 0;
  let sumL2 = 0;
  for (let i = 0; i < x.length; i++) {
    const l = clamp(nearestInt(f(iscale * x[i]!)), -nmax, nmax - 1);
    into[i] = l + nmax;
    const w = f(x[i]! * x[i]!);
    sumLX = f(sumLX + f(f(w * x[i]!) * l));
    sumL2 = f(sumL2 + f(f(w * l) * l));
  }
  return [sumLX, sumL2];
}
