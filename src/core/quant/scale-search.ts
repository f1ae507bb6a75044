/**
 * The scale searches of ggml's k-quant reference quantizers, in f32 in ggml's order of operations. A group x of n
 * values is fitted as x ≈ scale·L (+ min) with integer levels L; each search tries a few scales near the obvious
 * one and keeps the best by weighted squared error.
 *
 * These run ~20 trials for every 16 or 32 values of a model, so they allocate nothing: results go into the
 * caller's arrays and the trial levels into the scratch arrays below (groups hold at most `maxGroup` values).
 */
import { f, nearestSmallInt } from './float32.js';

/** Values below this magnitude count as an all-zero group (ggml's GROUP_MAX_EPS). */
export const groupMaxEps = f(1e-15);

const maxGroup = 32;
const trialLevels = new Uint8Array(maxGroup);
const squares = new Float32Array(maxGroup);
const cubes = new Float32Array(maxGroup);
const shifted = new Float32Array(maxGroup);
const levelValues = new Float64Array(maxGroup);
// A search's weighted sums of l, l² and x·l over the first i values of the last trial, at [i].
const prefixL = new Float64Array(maxGroup + 1);
const prefixL2 = new Float64Array(maxGroup + 1);
const prefixXL = new Float64Array(maxGroup + 1);

/**
 * ggml's make_qkx2_quants (squared error): x ≈ scale·L − theMin with L in 0..nmax (< maxGroup) and theMin ≥ 0;
 * the weights w are non-negative. Starts from the range [min(0, min x), max x] split into nmax steps, then for
 * iscale = (nmax + rmin + rdelta·k) / (max − min), k = 0..nstep, solves the weighted least squares for
 * (scale, min) given those levels (min forced ≤ 0) and keeps the lowest error. Like ggml, later trials measure
 * from the best min found so far, not from min(0, min x). Writes the levels into `L` (length n = x.length) and
 * [scale, theMin] into `fit`.
 *
 * Three shortcuts leave every f32 operation that decides the result as it was. The sums over the values before a
 * trial's first changed level are the last trial's, so they are kept. A trial whose levels equal the last trial's
 * has its fit and error, which lost already (or is the best, and a tie does not replace it). And the error, a sum
 * of non-negative terms, only grows, so its sum stops once it reaches the best error.
 */
export function makeQkx2Quants(
  x: Float32Array, w: Float32Array, nmax: number, L: Uint8Array, rmin: number, rdelta: number, nstep: number, fit: Float32Array,
): void {
  const n = x.length;
  let min = x[0]!;
  let max = x[0]!;
  let sumW = w[0]!;
  let sumX = f(sumW * x[0]!);
  for (let i = 1; i < n; i++) {
    if (x[i]! < min) min = x[i]!;
    if (x[i]! > max) max = x[i]!;
    sumW = f(sumW + w[i]!);
    sumX = f(sumX + f(w[i]! * x[i]!));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0);
    fit[0] = 0;
    fit[1] = -min;
    return;
  }
  // The levels are nearest_int(iscale·(x − min)) clamped to 0..nmax. The value rounded lies in [0, nmax + 1]
  // (x − min ≤ max − min in f32 too) up to rounding, or is ±Infinity or NaN when iscale overflows, so
  // nearestSmallInt applies. x − min is the same for every trial until a trial changes min.
  for (let i = 0; i < n; i++) shifted[i] = f(x[i]! - min);
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = clampLevel(nearestSmallInt(f(iscale * shifted[i]!)), nmax);
    L[i] = l;
    const diff = f(f(f(scale * l) + min) - x[i]!);
    bestError = f(bestError + f(w[i]! * f(diff * diff)));
  }
  for (let k = 0; k <= nstep; k++) {
    iscale = f(f(f(rmin + f(rdelta * k)) + nmax) / f(max - min)); // min is the best fit's so far, as in ggml
    let firstChange = k === 0 ? 0 : n; // trialLevels holds the last trial's levels from k = 1 on
    for (let i = 0; i < n; i++) {
      const l = clampLevel(nearestSmallInt(f(iscale * shifted[i]!)), nmax);
      if (l !== trialLevels[i]) {
        trialLevels[i] = l;
        if (firstChange === n) firstChange = i;
      }
    }
    if (firstChange === n) continue;
    // The sums of the normal equations for x ≈ scale·l + min weighted by w, in order from the first value.
    let sumL = prefixL[firstChange]!;
    let sumL2 = prefixL2[firstChange]!;
    let sumXL = prefixXL[firstChange]!;
    for (let i = firstChange; i < n; i++) {
      const l = trialLevels[i]!;
      const wl = f(w[i]! * l);
      sumL = prefixL[i + 1] = f(sumL + wl);
      sumL2 = prefixL2[i + 1] = f(sumL2 + f(wl * l));
      sumXL = prefixXL[i + 1] = f(sumXL + f(wl * x[i]!));
    }
    // Cramer's rule on the 2x2 normal equations; when the best min is positive, min = 0 and scale = Σwlx / Σwl².
    const det = f(f(sumW * sumL2) - f(sumL * sumL));
    if (!(det > 0)) continue; // singular
    let trialScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / det);
    let trialMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / det);
    if (trialMin > 0) {
      trialScale = f(sumXL / sumL2);
      trialMin = 0;
    }
    // Σ w·(scale·l + min − x)², accumulated in f32 (a NaN stops it too, and never wins); scale·l + min per level.
    for (let l = 0; l <= nmax; l++) levelValues[l] = f(f(trialScale * l) + trialMin);
    let error = 0;
    for (let i = 0; i < n && error < bestError; i++) {
      const diff = f(levelValues[trialLevels[i]!]! - x[i]!);
      error = f(error + f(w[i]! * f(diff * diff)));
    }
    if (error < bestError) {
      for (let i = 0; i < n; i++) L[i] = trialLevels[i]!;
      bestError = error;
      scale = trialScale;
      min = trialMin;
      for (let i = 0; i < n; i++) shifted[i] = f(x[i]! - min);
    }
  }
  fit[0] = scale;
  fit[1] = -min;
}

/**
 * ggml's make_qx_quants with rmse_type 1 (weights x²) and no importance weights: x ≈ scale·(L − nmax) with L in
 * 0..2·nmax−1. The value m of largest magnitude maps to level −nmax; then the scales −(nmax + 0.1·k) / m for
 * k = ±1..±9 are tried and the one maximizing (Σwxl)² / Σwl² (least-squares error) is kept. Writes the levels
 * into `L` (length n = x.length) and returns the scale (0 for an all-zero group).
 *
 * As in makeQkx2Quants, a trial keeps the last trial's sums over the values before its first changed level, and
 * a trial with the last trial's levels is skipped (it would lose again, or win with the same scale).
 */
export function makeQxQuants(x: Float32Array, nmax: number, L: Uint8Array): number {
  const n = x.length;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  if (amax < groupMaxEps) {
    L.fill(0);
    return 0;
  }
  // w = x² and w·x are the same in every trial.
  for (let i = 0; i < n; i++) {
    squares[i] = f(x[i]! * x[i]!);
    cubes[i] = f(squares[i]! * x[i]!);
  }
  // The levels l = nearest_int(iscale·x) clamped to −nmax..nmax−1, stored as l + nmax, and Σ w·x·l, Σ w·l·l.
  // |iscale·x| ≤ (nmax + 0.9)·|x / m| ≤ nmax + 1 up to rounding, so nearestSmallInt applies.
  let iscale = f(-nmax / max);
  let sumXL = 0;
  let sumL2 = 0;
  for (let i = 0; i < n; i++) {
    const l = clampSigned(nearestSmallInt(f(iscale * x[i]!)), nmax);
    L[i] = l + nmax;
    sumXL = f(sumXL + f(cubes[i]! * l));
    sumL2 = f(sumL2 + f(f(squares[i]! * l) * l));
  }
  let scale = sumL2 ? f(sumXL / sumL2) : 0;
  let best = f(scale * sumXL);
  for (let k = -9; k <= 9; k++) {
    if (k === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * k)) / max);
    let firstChange = k === -9 ? 0 : n; // trialLevels holds the last trial's levels after the first
    for (let i = 0; i < n; i++) {
      const l = clampSigned(nearestSmallInt(f(iscale * x[i]!)), nmax) + nmax;
      if (l !== trialLevels[i]) {
        trialLevels[i] = l;
        if (firstChange === n) firstChange = i;
      }
    }
    if (firstChange === n) continue;
    sumXL = prefixXL[firstChange]!;
    sumL2 = prefixL2[firstChange]!;
    for (let i = firstChange; i < n; i++) {
      const l = trialLevels[i]! - nmax;
      sumXL = prefixXL[i + 1] = f(sumXL + f(cubes[i]! * l));
      sumL2 = prefixL2[i + 1] = f(sumL2 + f(f(squares[i]! * l) * l));
    }
    if (sumL2 > 0 && f(sumXL * sumXL) > f(best * sumL2)) {
      for (let i = 0; i < n; i++) L[i] = trialLevels[i]!;
      scale = f(sumXL / sumL2);
      best = f(scale * sumXL);
    }
  }
  return scale;
}

/** l clamped to 0..nmax. */
function clampLevel(l: number, nmax: number): number {
  return l < 0 ? 0 : l > nmax ? nmax : l;
}

/** l clamped to −nmax..nmax−1. */
function clampSigned(l: number, nmax: number): number {
  return l < -nmax ? -nmax : l >= nmax ? nmax - 1 : l;
}
