// Q4_K and Q6_K block quantization (ggml's quantize_row_q4_K_ref and quantize_row_q6_K_ref), byte for byte as the
// host reference in src/core/quant (q4_k.ts, q6_k.ts, scale-search.ts), which emulates ggml's f32 arithmetic with
// Math.fround: here that arithmetic is native f32, one instruction per C operation, in the same order. Plain
// scalar code; the searches' shortcuts are the reference's (see scale-search.ts for why they change nothing).
import { q4kMin, q4kScale } from './dot';

// Each thread works in its own QUANTIZE_SCRATCH bytes at scratch + thread * QUANTIZE_SCRATCH:
const L_AT: usize = 0; //            u8[256]  the block's levels
const TRIAL_AT: usize = 256; //      u8[32]   a search trial's levels
const SCALES_AT: usize = 288; //     f32[16]  sub-block scales (Q4_K: 8 scales, then 8 mins)
const WEIGHTS_AT: usize = 352; //    f32[32]  Q4_K's search weights; Q6_K's x²
const SHIFTED_AT: usize = 480; //    f32[32]  x − min in Q4_K's search; Q6_K's x³
const LEVEL_VALUES_AT: usize = 608; // f32[16]  scale·l + min per level l of a Q4_K trial
const PREFIX_L_AT: usize = 672; //   f32[33]  a trial's running sums over its first i values, at [i]
const PREFIX_L2_AT: usize = 808; //  f32[33]
const PREFIX_XL_AT: usize = 944; //  f32[33]
const QUANTIZE_SCRATCH: usize = 2048;

/** Values below this magnitude count as an all-zero group (ggml's GROUP_MAX_EPS). */
const GROUP_MAX_EPS: f32 = 1e-15;

/** Q4_K blocks blockStart..blockEnd − 1 (144 bytes each, at out) of the f32 values at x (256 a block). */
export function quantizeQ4_K(x: usize, out: usize, scratch: usize, thread: i32, blockStart: i32, blockEnd: i32): void {
  const s = scratch + <usize>thread * QUANTIZE_SCRATCH;
  for (let b = blockStart; b < blockEnd; b++) q4kBlock(x + <usize>b * 1024, out + <usize>b * 144, s);
}

/** Q6_K blocks blockStart..blockEnd − 1 (210 bytes each, at out) of the f32 values at x (256 a block). */
export function quantizeQ6_K(x: usize, out: usize, scratch: usize, thread: i32, blockStart: i32, blockEnd: i32): void {
  const s = scratch + <usize>thread * QUANTIZE_SCRATCH;
  for (let b = blockStart; b < blockEnd; b++) q6kBlock(x + <usize>b * 1024, out + <usize>b * 210, s);
}

// ---- Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of 4-bit levels (q4_k.ts) ----

/**
 * Each sub-block of 32 gets (scale, min) from makeQkx2Quants with weights |x| + rms(sub-block); d = max scale / 63
 * and dmin = max min / 63 (as f16); the 6-bit sc, m are the scales and mins against those; then every level is
 * recomputed against the stored d·sc and dmin·m.
 */
function q4kBlock(x: usize, out: usize, s: usize): void {
  let maxScale: f32 = 0, maxMin: f32 = 0;
  for (let j: usize = 0; j < 8; j++) {
    const group = x + j * 128;
    subBlockWeights(group, s + WEIGHTS_AT);
    makeQkx2Quants(group, s + WEIGHTS_AT, 15, s + L_AT + j * 32, -1, 0.1, 20, s, s + SCALES_AT + j * 4, s + SCALES_AT + 32 + j * 4);
    const scale = load<f32>(s + SCALES_AT + j * 4), min = load<f32>(s + SCALES_AT + 32 + j * 4);
    if (scale > maxScale) maxScale = scale;
    if (min > maxMin) maxMin = min;
  }
  const iscale: f32 = maxScale > 0 ? 63 / maxScale : 0, imin: f32 = maxMin > 0 ? 63 / maxMin : 0;
  packScales(out + 4, s + SCALES_AT, iscale, s + SCALES_AT + 32, imin);
  store<u16>(out, f32ToF16(maxScale / 63));
  store<u16>(out + 2, f32ToF16(maxMin / 63));
  const d = f16ToF32(load<u16>(out)), dmin = f16ToF32(load<u16>(out + 2));
  for (let j = 0; j < 8; j++) {
    const step = d * <f32>q4kScale(out + 4, j);
    if (step == 0 || isNaN(step)) continue; // keep makeQkx2Quants' levels
    const offset = dmin * <f32>q4kMin(out + 4, j);
    for (let i = 32 * j; i < 32 * j + 32; i++) {
      const l = nearestInt((load<f32>(x + <usize>i * 4) + offset) / step);
      store<u8>(s + L_AT + <usize>i, max(0, min(15, l)));
    }
  }
  for (let c: usize = 0; c < 4; c++) {
    for (let l: usize = 0; l < 32; l++) {
      store<u8>(out + 16 + 32 * c + l, load<u8>(s + L_AT + 64 * c + l) | (load<u8>(s + L_AT + 64 * c + 32 + l) << 4));
    }
  }
}

/** w_i = sqrt(Σx²/32) + |x_i| for the 32 values at x, into w. */
function subBlockWeights(x: usize, w: usize): void {
  let sumX2: f32 = 0;
  for (let i: usize = 0; i < 32; i++) {
    const v = load<f32>(x + i * 4);
    sumX2 += v * v;
  }
  const rms = sqrt<f32>(sumX2 / 32);
  for (let i: usize = 0; i < 32; i++) store<f32>(w + i * 4, rms + abs<f32>(load<f32>(x + i * 4)));
}

/** The 6-bit sc = min(63, nearest_int(iscale·scale)) and m likewise, as the 12 scale bytes at p. */
function packScales(p: usize, scales: usize, iscale: f32, mins: usize, imin: f32): void {
  for (let j: usize = 0; j < 8; j++) {
    // ggml stores nearest_int in a u8, then caps it
    const sc = min(63, nearestInt(iscale * load<f32>(scales + j * 4)) & 0xff);
    const m = min(63, nearestInt(imin * load<f32>(mins + j * 4)) & 0xff);
    if (j < 4) {
      store<u8>(p + j, sc);
      store<u8>(p + 4 + j, m);
    } else {
      store<u8>(p + 4 + j, (sc & 0x0f) | ((m & 0x0f) << 4));
      store<u8>(p + j - 4, load<u8>(p + j - 4) | ((sc >> 4) << 6));
      store<u8>(p + j, load<u8>(p + j) | ((m >> 4) << 6));
    }
  }
}

/**
 * ggml's make_qkx2_quants (squared error) on the n = 32 values at x with weights w: x ≈ scale·L − theMin, L in
 * 0..nmax at levels, theMin ≥ 0, scale and theMin stored at scaleOut and minOut. From the range [min(0, min x),
 * max x] split into nmax steps, tries iscale = (nmax + rmin + rdelta·k) / (max − min), k = 0..nstep, each fitted
 * by weighted least squares (min forced ≤ 0), keeping the lowest error; later trials measure from the best min so
 * far, as in ggml. The reference's shortcuts: sums before a trial's first changed level are kept, a trial with the
 * last trial's levels is skipped, and the error sum stops once it reaches the best error.
 */
function makeQkx2Quants(x: usize, w: usize, nmax: i32, levels: usize, rmin: f32, rdelta: f32, nstep: i32, s: usize, scaleOut: usize, minOut: usize): void {
  const n: usize = 32;
  const trial = s + TRIAL_AT, shifted = s + SHIFTED_AT, levelValues = s + LEVEL_VALUES_AT;
  const prefixL = s + PREFIX_L_AT, prefixL2 = s + PREFIX_L2_AT, prefixXL = s + PREFIX_XL_AT;
  let min = load<f32>(x), max = min;
  let sumW = load<f32>(w);
  let sumX = sumW * min;
  for (let i: usize = 1; i < n; i++) {
    const v = load<f32>(x + i * 4), wi = load<f32>(w + i * 4);
    if (v < min) min = v;
    if (v > max) max = v;
    sumW += wi;
    sumX += wi * v;
  }
  if (min > 0) min = 0;
  if (max == min) {
    memory.fill(levels, 0, n);
    store<f32>(scaleOut, 0);
    store<f32>(minOut, -min);
    return;
  }
  // Levels: nearest_int(iscale·(x − min)) clamped to 0..nmax; x − min is the same until a trial changes min.
  for (let i: usize = 0; i < n; i++) store<f32>(shifted + i * 4, load<f32>(x + i * 4) - min);
  let iscale = <f32>nmax / (max - min);
  let scale: f32 = 1 / iscale;
  let bestError: f32 = 0;
  for (let i: usize = 0; i < n; i++) {
    const l = clampLevel(nearestSmallInt(iscale * load<f32>(shifted + i * 4)), nmax);
    store<u8>(levels + i, l);
    const diff = scale * <f32>l + min - load<f32>(x + i * 4);
    bestError += load<f32>(w + i * 4) * (diff * diff);
  }
  store<f32>(prefixL, 0);
  store<f32>(prefixL2, 0);
  store<f32>(prefixXL, 0);
  for (let k = 0; k <= nstep; k++) {
    iscale = (rmin + rdelta * <f32>k + <f32>nmax) / (max - min); // min is the best fit's so far, as in ggml
    let firstChange: usize = k == 0 ? 0 : n; // trial holds the last trial's levels from k = 1 on
    for (let i: usize = 0; i < n; i++) {
      const l = clampLevel(nearestSmallInt(iscale * load<f32>(shifted + i * 4)), nmax);
      if (l != <i32>load<u8>(trial + i)) {
        store<u8>(trial + i, l);
        if (firstChange == n) firstChange = i;
      }
    }
    if (firstChange == n) continue;
    // The sums of the normal equations for x ≈ scale·l + min weighted by w, in order from the first value.
    let sumL = load<f32>(prefixL + firstChange * 4);
    let sumL2 = load<f32>(prefixL2 + firstChange * 4);
    let sumXL = load<f32>(prefixXL + firstChange * 4);
    for (let i = firstChange; i < n; i++) {
      const l = <f32>load<u8>(trial + i);
      const wl = load<f32>(w + i * 4) * l;
      sumL += wl;
      sumL2 += wl * l;
      sumXL += wl * load<f32>(x + i * 4);
      store<f32>(prefixL + (i + 1) * 4, sumL);
      store<f32>(prefixL2 + (i + 1) * 4, sumL2);
      store<f32>(prefixXL + (i + 1) * 4, sumXL);
    }
    // Cramer's rule on the 2x2 normal equations; when the min comes out positive, min = 0 and scale = Σwlx / Σwl².
    const det = sumW * sumL2 - sumL * sumL;
    if (!(det > 0)) continue; // singular
    let trialScale = (sumW * sumXL - sumX * sumL) / det;
    let trialMin = (sumL2 * sumX - sumL * sumXL) / det;
    if (trialMin > 0) {
      trialScale = sumXL / sumL2;
      trialMin = 0;
    }
    // Σ w·(scale·l + min − x)², in order; a NaN stops it too, and never wins.
    for (let l: usize = 0; l <= <usize>nmax; l++) store<f32>(levelValues + l * 4, trialScale * <f32>l + trialMin);
    let error: f32 = 0;
    for (let i: usize = 0; i < n && error < bestError; i++) {
      const diff = load<f32>(levelValues + <usize>load<u8>(trial + i) * 4) - load<f32>(x + i * 4);
      error += load<f32>(w + i * 4) * (diff * diff);
    }
    if (error < bestError) {
      memory.copy(levels, trial, n);
      bestError = error;
      scale = trialScale;
      min = trialMin;
      for (let i: usize = 0; i < n; i++) store<f32>(shifted + i * 4, load<f32>(x + i * 4) - min);
    }
  }
  store<f32>(scaleOut, scale);
  store<f32>(minOut, -min);
}

// ---- Q6_K: 128 bytes of low nibbles, 64 of top bits, 16 int8 scales, f16 d (q6_k.ts) ----

/**
 * Each sub-block of 16 gets its scale from makeQxQuants (nmax 32); d = −(the scale of largest magnitude) / 128 as
 * f16 and the int8 scales are nearest_int(scale / d) capped at 127; then every level is recomputed against the
 * stored d·scale (a zero one keeps makeQxQuants' levels). A block whose scales are all below 1e-15 is all zeros.
 */
function q6kBlock(x: usize, out: usize, s: usize): void {
  let maxScale: f32 = 0;
  for (let j: usize = 0; j < 16; j++) {
    const scale = makeQxQuants(x + j * 64, 32, s + L_AT + j * 16, s);
    store<f32>(s + SCALES_AT + j * 4, scale);
    if (abs<f32>(scale) > abs<f32>(maxScale)) maxScale = scale;
  }
  if (abs<f32>(maxScale) < GROUP_MAX_EPS) {
    memory.fill(out, 0, 210);
    return;
  }
  const iscale: f32 = -128 / maxScale;
  store<u16>(out + 208, f32ToF16(1 / iscale));
  for (let j: usize = 0; j < 16; j++) store<i8>(out + 192 + j, min(127, nearestInt(iscale * load<f32>(s + SCALES_AT + j * 4)))); // i8 by wrapping
  const d = f16ToF32(load<u16>(out + 208));
  for (let j = 0; j < 16; j++) {
    const step = d * <f32>load<i8>(out + 192 + <usize>j);
    if (step == 0 || isNaN(step)) continue;
    for (let i = 16 * j; i < 16 * j + 16; i++) {
      store<u8>(s + L_AT + <usize>i, max(-32, min(31, nearestInt(load<f32>(x + <usize>i * 4) / step))) + 32);
    }
  }
  // In half h, element 128h + 32k + l takes its low nibble from ql[64h + l + 32(k & 1)] (high nibble for k ≥ 2)
  // and its top two bits from bits 2k..2k+1 of qh[32h + l].
  memory.fill(out, 0, 192);
  for (let h: usize = 0; h < 2; h++) {
    for (let k: usize = 0; k < 4; k++) {
      const i: usize = 128 * h + 32 * k, ql = out + 64 * h + 32 * (k & 1), qh = out + 128 + 32 * h;
      const shiftL = <u8>(4 * (k >> 1)), shiftH = <u8>(2 * k);
      for (let l: usize = 0; l < 32; l++) {
        const level = load<u8>(s + L_AT + i + l);
        store<u8>(ql + l, load<u8>(ql + l) | ((level & 0x0f) << shiftL));
        store<u8>(qh + l, load<u8>(qh + l) | ((level >> 4) << shiftH));
      }
    }
  }
}

/**
 * ggml's make_qx_quants with rmse_type 1 (weights x²) on the n = 16 values at x: x ≈ scale·(L − nmax), L in
 * 0..2·nmax−1 at levels. The value m of largest magnitude maps to level −nmax; the scales −(nmax + 0.1·k) / m for
 * k = ±1..±9 are tried and the one maximizing (Σwxl)² / Σwl² kept. Returns the scale (0 for an all-zero group).
 * Same shortcuts as makeQkx2Quants (kept sums, skipped repeats).
 */
function makeQxQuants(x: usize, nmax: i32, levels: usize, s: usize): f32 {
  const n: usize = 16;
  const trial = s + TRIAL_AT, squares = s + WEIGHTS_AT, cubes = s + SHIFTED_AT;
  const prefixL2 = s + PREFIX_L2_AT, prefixXL = s + PREFIX_XL_AT;
  let max: f32 = 0, amax: f32 = 0;
  for (let i: usize = 0; i < n; i++) {
    const v = load<f32>(x + i * 4);
    if (abs<f32>(v) > amax) {
      amax = abs<f32>(v);
      max = v;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    memory.fill(levels, 0, n);
    return 0;
  }
  // w = x² and w·x are the same in every trial.
  for (let i: usize = 0; i < n; i++) {
    const v = load<f32>(x + i * 4), square = v * v;
    store<f32>(squares + i * 4, square);
    store<f32>(cubes + i * 4, square * v);
  }
  // Levels l = nearest_int(iscale·x) clamped to −nmax..nmax−1, stored as l + nmax; and Σ w·x·l, Σ w·l·l.
  let iscale = <f32>(-nmax) / max;
  let sumXL: f32 = 0, sumL2: f32 = 0;
  for (let i: usize = 0; i < n; i++) {
    const l = clampSigned(nearestSmallInt(iscale * load<f32>(x + i * 4)), nmax);
    store<u8>(levels + i, l + nmax);
    sumXL += load<f32>(cubes + i * 4) * <f32>l;
    sumL2 += load<f32>(squares + i * 4) * <f32>l * <f32>l;
  }
  let scale: f32 = sumL2 != 0 && !isNaN(sumL2) ? sumXL / sumL2 : 0; // the reference's truthiness: NaN is false
  let best = scale * sumXL;
  store<f32>(prefixL2, 0);
  store<f32>(prefixXL, 0);
  for (let k = -9; k <= 9; k++) {
    if (k == 0) continue;
    iscale = -(<f32>nmax + <f32>0.1 * <f32>k) / max;
    let firstChange: usize = k == -9 ? 0 : n; // trial holds the last trial's levels after the first
    for (let i: usize = 0; i < n; i++) {
      const l = clampSigned(nearestSmallInt(iscale * load<f32>(x + i * 4)), nmax) + nmax;
      if (l != <i32>load<u8>(trial + i)) {
        store<u8>(trial + i, l);
        if (firstChange == n) firstChange = i;
      }
    }
    if (firstChange == n) continue;
    sumXL = load<f32>(prefixXL + firstChange * 4);
    sumL2 = load<f32>(prefixL2 + firstChange * 4);
    for (let i = firstChange; i < n; i++) {
      const l = <f32>(<i32>load<u8>(trial + i) - nmax);
      sumXL += load<f32>(cubes + i * 4) * l;
      sumL2 += load<f32>(squares + i * 4) * l * l;
      store<f32>(prefixXL + (i + 1) * 4, sumXL);
      store<f32>(prefixL2 + (i + 1) * 4, sumL2);
    }
    if (sumL2 > 0 && sumXL * sumXL > best * sumL2) {
      memory.copy(levels, trial, n);
      scale = sumXL / sumL2;
      best = scale * sumXL;
    }
  }
  return scale;
}

// ---- rounding, as the reference's float32.ts does it ----

/** l clamped to 0..nmax. */
// @ts-ignore: decorator
@inline function clampLevel(l: i32, nmax: i32): i32 {
  return l < 0 ? 0 : l > nmax ? nmax : l;
}

/** l clamped to −nmax..nmax−1. */
// @ts-ignore: decorator
@inline function clampSigned(l: i32, nmax: i32): i32 {
  return l < -nmax ? -nmax : l >= nmax ? nmax - 1 : l;
}

/**
 * JavaScript's ToInt32 (`| 0`) of an integer-valued f64: modulo 2^32, and 0 for ±Infinity and NaN. Past 2^63 an
 * f32-derived value is a multiple of 2^32, so 0 too.
 */
// @ts-ignore: decorator
@inline function toInt32(r: f64): i32 {
  return abs<f64>(r) < 9.223372036854775808e18 ? <i32><i64>r : 0;
}

/**
 * v rounded to nearest with ties to even, for |v| < 2^22: ggml's own form. v + 1.5·2^23 in f32 lies in
 * [2^23, 2^24], where f32 steps by 1, so it is the rounded v plus 1.5·2^23, and its bits are those of 1.5·2^23
 * (0x4B400000) plus the rounded v.
 */
// @ts-ignore: decorator
@inline function roundSmall(v: f32): i32 {
  return reinterpret<i32>(v + 12582912) - 0x4b400000;
}

/** ggml's nearest_int (round to nearest, ties to even), as the reference's nearestInt returns it for any v. */
// @ts-ignore: decorator
@inline function nearestInt(v: f32): i32 {
  return abs<f32>(v) < 4194304 ? roundSmall(v) : toInt32(nearest<f64>(<f64>v));
}

/**
 * The search loops' rounding, as the reference's nearestSmallInt (v + 1.5·2^23 in f32, less 1.5·2^23 in f64):
 * roundSmall(v) for |v| < 2^22, which is all the searches meet but ±Infinity and NaN (they give 0).
 */
// @ts-ignore: decorator
@inline function nearestSmallInt(v: f32): i32 {
  return abs<f32>(v) < 4194304 ? roundSmall(v) : toInt32(<f64>(v + 12582912) - 12582912);
}

/** f32 -> f16 bits, round to nearest even (GGML_FP32_TO_FP16; the reference's f32ToF16, in the same steps). */
function f32ToF16(value: f32): u16 {
  const x = reinterpret<u32>(value);
  const sign = (x >> 16) & 0x8000;
  const exp = <i32>((x >> 23) & 0xff);
  const mant = x & 0x7fffff;
  if (exp == 0xff) return <u16>(sign | 0x7c00 | (mant != 0 ? 0x200 : 0)); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return <u16>(sign | 0x7c00); // overflow -> inf
  if (e <= 0) {
    if (e < -10) return <u16>sign; // underflow -> signed zero
    const m = mant | 0x800000; // implicit leading 1
    const shift = <u32>(14 - e);
    const half = <u32>1 << (shift - 1);
    let r = m >> shift;
    const rest = m & ((<u32>1 << shift) - 1);
    if (rest > half || (rest == half && (r & 1) != 0)) r++;
    return <u16>(sign | r);
  }
  let r = (<u32>e << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (r & 1) != 0)) r++; // may carry into the exponent: still correct
  return <u16>(sign | r);
}

/** f16 bits -> f32, exactly, infinities and NaN included (simd.ts's f16 leaves those out: weights hold none). */
function f16ToF32(h: u16): f32 {
  const sign = <u32>(h & 0x8000) << 16, exp = <u32>(h >> 10) & 0x1f, mant = <u32>h & 0x3ff;
  if (exp == 0) return reinterpret<f32>(sign | reinterpret<u32>(<f32>mant * reinterpret<f32>((127 - 24) << 23))); // mant·2^-24
  if (exp == 0x1f) return reinterpret<f32>(sign | 0x7f800000 | (mant << 13));
  return reinterpret<f32>(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}
