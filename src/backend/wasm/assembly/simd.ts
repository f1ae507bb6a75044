// Small SIMD helpers shared by the kernels.

/**
 * How far ahead of its weight stream a decode kernel touches memory: one byte LOOK_AHEAD bytes on, loaded and
 * summed into a value that goes nowhere (lookedAhead), so that the cache line's miss starts while the kernel still
 * works on the bytes before it. On an Intel Xeon with AMX the hardware prefetchers left our block-type mat-vecs
 * waiting on memory (Q4_0 from memory at half the read bandwidth, its compute time and its memory time adding up);
 * with these loads, 5.2 -> 6.8 GB/s. The heap keeps 8 KiB past its top (heap.ts), so none leaves memory.
 */
export const LOOK_AHEAD: usize = 512;
/**
 * The f16 mat-vec looks further ahead, a page: it does more work per byte than the block types, and tinyllama f16
 * decode ran 10-12% faster with 4 KiB than with 512 bytes (1 and 2 threads), where Q4_0 ran 4% slower.
 */
export const F16_LOOK_AHEAD: usize = 4096;
let lookedAheadSum: u32 = 0;

/** The byte at p, a look-ahead's address (see LOOK_AHEAD). */
// @ts-ignore: decorator
@inline export function touch(p: usize): u32 {
  return <u32>load<u8>(p);
}

/** Keeps the touched bytes' sum alive: a store to a global the compiler cannot drop. */
// @ts-ignore: decorator
@inline export function lookedAhead(sum: u32): void {
  lookedAheadSum = sum;
}

/** Sum of the 4 lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * i32x4 partial sums of the products of 16 signed bytes a . b. The byte products go to i16 lanes (extmul), two per
 * lane are added in i16 (|product| <= 128 * 127, so a sum of two fits), then pairs are widened to i32.
 */
// @ts-ignore: decorator
@inline export function dotI8(a: v128, b: v128): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(a, b), i16x8.extmul_high_i8x16_s(a, b)));
}

/**
 * The i16x8 splat of 1 that the relaxed integer dots widen their pair sums with (pmaddwd against ones), built
 * from a value the compiler cannot fold (pass any non-zero run-time value) so that it stays in a register. V8
 * builds a constant again at every use (2-3 instructions), and its own relaxed dot-add builds its ones vector at
 * every call; in a kernel bound by instructions that costs about 15%.
 */
// @ts-ignore: decorator
@inline export function onesI16(nonZero: i32): v128 {
  return i16x8.splat(<i16>(nonZero != 0));
}

/**
 * acc + the i32x4 partial sums of (w xor sg) . u for signed bytes w, sign masks sg (0 or -1) and u in 0..127: the
 * relaxed dot (|pair sums| <= 2 * 128 * 127 < 2^15) widened against `ones` (onesI16), else the exact dot. See Q8S
 * (q8a.ts) for what it is for.
 */
// @ts-ignore: decorator
@inline export function dotI8SignedBy(w: v128, sg: v128, u: v128, acc: v128, ones: v128): v128 {
  if (!ASC_FEATURE_RELAXED_SIMD) return i32x4.add(acc, dotI8(v128.xor(w, sg), u));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.xor(w, sg), u), ones));
}

/**
 * i16 lanes u[2l] s[2l] + u[2l+1] s[2l+1] for bytes u in 0..127 and signed bytes s: relaxed SIMD's i16 dot (x64
 * pmaddubsw; a pair cannot saturate, 2 * 127 * 128 < 2^15), else the same sums from widened products.
 */
// @ts-ignore: decorator
@inline export function pairDot(u: v128, s: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(s, u);
  const lo = i16x8.extmul_low_i8x16_s(u, s), hi = i16x8.extmul_high_i8x16_s(u, s);
  return i16x8.add(
    i8x16.shuffle(lo, hi, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29),
    i8x16.shuffle(lo, hi, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31),
  );
}

/**
 * i16x8 a, b (two blocks' partial sums) -> one i16x8 holding both, halved in width: lanes 0, 1, 4, 5 of the result
 * sum a's lanes (i, i + 4 and the like), lanes 2, 3, 6, 7 b's. |lanes| at most twice the inputs'.
 */
// @ts-ignore: decorator
@inline export function pairBlocks(a: v128, b: v128): v128 {
  return i16x8.add(v128.shuffle<i32>(a, b, 0, 4, 1, 5), v128.shuffle<i32>(a, b, 2, 6, 3, 7));
}

/**
 * The loader's check that the runtime gets the relaxed integer dots right, on 16 bytes at u (0..127) and at s, in
 * the forms the kernels use them: out (i32x4) = pairDot(u, s) widened against a scale of -3, out + 16 = the i16 sum
 * of the pair dots of u's low and high nibbles with s widened against ones, and out + 32 = dotI8SignedBy(s, no
 * signs, u, 0).
 */
export function relaxedDotProbe(out: usize, u: usize, s: usize): void {
  const uv = v128.load(u), sv = v128.load(s), mask = i8x16.splat(0x0f), ones = onesI16(<i32>out);
  v128.store(out, i32x4.dot_i16x8_s(pairDot(uv, sv), i16x8.splat(-3)));
  v128.store(out + 16, i32x4.dot_i16x8_s(i16x8.add(pairDot(v128.and(uv, mask), sv), pairDot(v128.and(i16x8.shr_u(uv, 4), mask), sv)), ones));
  v128.store(out + 32, dotI8SignedBy(sv, i32x4.splat(0), uv, i32x4.splat(0), ones));
}

/**
 * Scalar f16 bits -> f32 (exact for zero, subnormals and normals; weights hold no inf/nan). Normals rebias their
 * exponent in integer arithmetic; subnormals are their mantissa times 2^-24. No f32 subnormal is ever formed: x64
 * takes a slow assist on each multiply that meets one, and the scales of small weights (a 1.1B model's Q6_K blocks)
 * are f16 subnormals.
 */
// @ts-ignore: decorator
@inline export function f16(h: u32): f32 {
  const normal = reinterpret<f32>(((h & 0x7fff) << 13) + ((127 - 15) << 23));
  const subnormal = <f32>(h & 0x3ff) * reinterpret<f32>((127 - 24) << 23); // mantissa * 2^-24
  const magnitude = select<f32>(normal, subnormal, (h & 0x7c00) != 0);
  return reinterpret<f32>(reinterpret<u32>(magnitude) | ((h & 0x8000) << 16));
}

/**
 * Eight f16 values -> two f32x4 times 2^-112, exactly: f32 bits sign | exponent | mantissa << 13, which is the
 * f16 value over 2^112 (normals and subnormals alike). Built in 16-bit lanes, 8 values per op: the high halves are
 * the f16 shifted right by 3 (sign copies masked off), the low halves its 3 low mantissa bits (h 2^13 mod 2^16,
 * as a 16-bit multiply: on this x64 the vector shifts share their two pipes with the multiply-adds that consume
 * these, the multiply does not; the f16 mat-vec gains 8%); one interleave each makes the f32s. Multiply by 2^112
 * (F16_REBIAS) to get the values.
 */
// @ts-ignore: decorator
@inline export function f16x8Low(h: v128): v128 {
  return i8x16.shuffle(i16x8.mul(h, i16x8.splat(8192)), v128.and(i16x8.shr_s(h, 3), i16x8.splat(<i16>0x8fff)), 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}
// @ts-ignore: decorator
@inline export function f16x8High(h: v128): v128 {
  return i8x16.shuffle(i16x8.mul(h, i16x8.splat(8192)), v128.and(i16x8.shr_s(h, 3), i16x8.splat(<i16>0x8fff)), 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
}
export const F16_REBIAS: f32 = reinterpret<f32>(0x77800000); // 2^112
/** The factor (2^40) that brings dotF16Rows' sums back (its x comes times 2^72). */
export const F16_UNSCALE: f32 = reinterpret<f32>((127 + 40) << 23);

/**
 * Four f16 values (the low 4 u16 lanes of `halves`) -> f32x4, exactly (zero, subnormals, normals; weights hold no
 * inf/nan). Each half goes to the top of a 32-bit lane (sign in place), an arithmetic shift by 3 moves exponent and
 * mantissa to f32's positions, the mask drops the sign's copies, and the multiply by 2^112 rebiases the exponent
 * (and normalises subnormals).
 */
// @ts-ignore: decorator
@inline export function f16x4(halves: v128): v128 {
  return f16Top(i32x4.shl(i32x4.extend_low_i16x8_u(halves), 16));
}

/**
 * f16x4 with no f32 subnormal along the way, for f16 values that may be subnormals: x64 takes a microcode assist
 * (about 100 cycles) on each multiply that meets an f32 subnormal, and f16x4 makes one of each f16 subnormal. Here
 * the exponent is rebiased in integers; a zero-exponent lane (zero or subnormal: m 2^-24) is rebiased one higher,
 * to 2^-14 (1 + m / 1024), and 2^-14 subtracted, exactly (F. Giesen's half-to-float).
 */
// @ts-ignore: decorator
@inline export function f16x4Exact(halves: v128): v128 {
  const h = i32x4.extend_low_i16x8_u(halves);
  const zeroExponent = i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0));
  const bits = i32x4.add(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), i32x4.add(i32x4.splat(112 << 23), v128.and(zeroExponent, i32x4.splat(1 << 23))));
  const magnitude = f32x4.sub(bits, v128.and(zeroExponent, f32x4.splat(reinterpret<f32>(113 << 23))));
  return v128.or(magnitude, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

// @ts-ignore: decorator
@inline function f16Top(top: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(top, 3), i32x4.splat(0x8fffe000)), f32x4.splat(reinterpret<f32>(0x77800000)));
}

/**
 * a * b + c on f32 lanes: one fused multiply-add in the relaxed-SIMD build (x64 FMA), else a multiply and an add
 * (the same sum as `c + a * b`, bit for bit).
 */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * e^x on f32 lanes, within 1.01 ulp of e^x over [-87, 88] (measured on 4M points; Cephes' expf): x = n ln 2 + r with |r| <= ln 2 / 2 (ln 2 in two parts, so r is
 * exact), e^r by a degree-6 polynomial, 2^n built in the exponent bits. Below -87.3 (where e^x leaves the normal
 * range) it is 0, e^-inf included; above 88.376 it is +inf (e^x itself passes f32's largest value at 88.72).
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const lo = f32x4.splat(-87.33654), hi = f32x4.splat(88.37626);
  const xc = f32x4.pmin(f32x4.pmax(x, lo), hi); // pmin/pmax: one x64 instruction each (NaN is masked below)
  const shifted = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(ROUNDING));
  const n = f32x4.sub(shifted, f32x4.splat(ROUNDING)); // round(x log2 e), and below as bits
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375))), f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = madd(f32x4.splat(1.9875691500e-4), r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  const er = f32x4.add(madd(p, f32x4.mul(r, r), r), f32x4.splat(1));
  // n in -126..127: 2^n as exponent bits.
  const twoN = i32x4.shl(i32x4.add(i32x4.sub(shifted, i32x4.splat(ROUNDING_BITS)), i32x4.splat(127)), 23);
  const y = f32x4.mul(er, twoN);
  return v128.and(v128.bitselect(f32x4.splat(Infinity), y, f32x4.gt(x, hi)), f32x4.ge(x, lo));
}

/**
 * 1.5 2^23: adding it to an f32 of magnitude below 2^22 leaves round(x) (half to even, the FPU's mode) in the low
 * mantissa bits; subtracting its bit pattern from the sum's reads them as an integer. Two adds where
 * nearest + trunc_sat take about ten x64 instructions (V8 saturates trunc_sat by hand).
 */
const ROUNDING: f32 = 12582912;
const ROUNDING_BITS: i32 = 0x4b400000;

/** round(v) (half to even) of 4 floats of magnitude below 2^22, as i32x4. */
// @ts-ignore: decorator
@inline export function roundToInt4(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, f32x4.splat(ROUNDING)), i32x4.splat(ROUNDING_BITS));
}
