// Q8A, our activation quantization for the integer kernels: per 32 consecutive f32 values, 40 bytes:
// f32 d, the i16 sums of the int8 values 0..15 and 16..31, then the 32 int8 values q = round(x / d),
// d = max|x| / 127 (|sum| <= 16 * 127 fits i16). The decode and prefill layouts below are built from it.
import { roundToInt4 } from './simd';

const Q8A_BYTES: usize = 40;

/** dst (n/32 blocks of Q8A) from x (n f32, n a multiple of 32). */
function quantizeQ8A(dst: usize, x: usize, n: i32): void {
  for (let b = 0; b < n / 32; b++) q8aBlock(dst + <usize>b * Q8A_BYTES, x + <usize>b * 128, absMax(x + <usize>b * 128, 32) / 127);
}

/** One Q8A block at out from the 32 floats at src, with the scale d given. */
function q8aBlock(out: usize, src: usize, d: f32): void {
  const inv = f32x4.splat(d > 0 ? 1 / d : 0);
  store<f32>(out, d);
  store<i16>(out + 4, <i16>round16(out + 8, src, inv));
  store<i16>(out + 6, <i16>round16(out + 24, src + 64, inv));
}

/** max |x| of the n floats at src (n a multiple of 4). */
function absMax(src: usize, n: i32): f32 {
  let amax = f32x4.splat(0);
  for (let i = 0; i < n; i += 4) amax = f32x4.pmax(amax, f32x4.abs(v128.load(src + <usize>i * 4)));
  return max(max(f32x4.extract_lane(amax, 0), f32x4.extract_lane(amax, 1)), max(f32x4.extract_lane(amax, 2), f32x4.extract_lane(amax, 3)));
}

/** The 16 floats at src times inv, rounded to int8 at dst; returns their sum. */
// @ts-ignore: decorator
@inline function round16(dst: usize, src: usize, inv: v128): i32 {
  const q0 = round4(src, inv), q1 = round4(src + 16, inv), q2 = round4(src + 32, inv), q3 = round4(src + 48, inv);
  v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  const sums = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
  return i32x4.extract_lane(sums, 0) + i32x4.extract_lane(sums, 1) + i32x4.extract_lane(sums, 2) + i32x4.extract_lane(sums, 3);
}

/** The sum of a Q8A block's 32 int8 values. */
// @ts-ignore: decorator
@inline export function q8aSum(xb: usize): i32 {
  return <i32>load<i16>(xb + 4) + <i32>load<i16>(xb + 6);
}

// Q8K, x for the Q4_K and Q6_K decode kernels, as ggml's Q8_K: one scale per 256 values, so that a block's integer
// sums run on to its end and meet a float once. Per 256 values, 304 bytes: f32 d = max|x| / 127 over the 256, 12
// unused bytes, the 16 i16 sums of the int8 values by 16s (the k-quants' offsets come from these), then the 256
// int8 values round(x / d).
export const Q8K_BYTES: usize = 304;

/** dst (n/256 blocks of Q8K) from x (n f32, n a multiple of 256). */
export function quantizeQ8K(dst: usize, x: usize, n: i32): void {
  for (let b = 0; b < n / 256; b++) {
    const src = x + <usize>b * 1024, out = dst + <usize>b * Q8K_BYTES;
    const d: f32 = absMax(src, 256) / 127;
    const inv = f32x4.splat(d > 0 ? 1 / d : 0);
    for (let g: usize = 0; g < 16; g++) store<i16>(out + 16 + g * 2, <i16>round16(out + 48 + g * 16, src + g * 64, inv));
    store<f32>(out, d);
  }
}

/** round(x / d) of 4 floats at p, as i32x4 (round half to even; |values| <= 127). */
// @ts-ignore: decorator
@inline function round4(p: usize, inv: v128): v128 {
  return roundToInt4(f32x4.mul(v128.load(p), inv));
}

// Q8A4, for the integer prefill kernels (matmul-int8.ts): x (m, k) in groups of 4 rows, blocks of 32 columns, each
// group's blocks contiguous, rows past m zero. The same d and values as decode's x: Q8A's, or Q8K's (d over 256
// columns) for Q4_K. Two layouts of a block:
// - Q8A4 (160 bytes; Q4_0, Q4_K): f32x4 d of rows 0..3, i32x4 their sums, then 8 x 16 bytes where bytes
//   16t..16t+15 hold elements 4t..4t+3 of rows 0, 1, 2, 3.
// - Q8A4S (288 bytes; Q8_0): f32x4 d, i32x4 their Q8S corrections c, then those 128 bytes as magnitudes |xq| and
//   128 bytes of sign masks, in the same order (see Q8S below).
export const Q8A4_BYTES: usize = 160;
export const Q8A4S_BYTES: usize = 288;

/**
 * dst from x (m, k) f32, k a multiple of `span`: Q8A4, or Q8A4S when `signed`, d the max over `span` columns (32,
 * or 256 for Q4_K, whose decode takes Q8K); tmp: 104 bytes of scratch.
 */
export function quantizeQ8A4(dst: usize, x: usize, m: i32, k: i32, signed: bool, span: i32, tmp: usize): void {
  const blocks = k / 32;
  const bytes = signed ? Q8A4S_BYTES : Q8A4_BYTES;
  memory.fill(dst, 0, <usize>((m + 3) >> 2) * <usize>blocks * bytes);
  for (let row = 0; row < m; row++) {
    const r = <usize>(row & 3) * 4;
    let d: f32 = 0;
    for (let b = 0; b < blocks; b++) {
      const src = x + (<usize>row * <usize>k + <usize>b * 32) * 4;
      if (b % (span / 32) == 0) d = absMax(src, span) / 127;
      q8aBlock(tmp, src, d);
      const out = dst + (<usize>(row >> 2) * <usize>blocks + <usize>b) * bytes;
      store<f32>(out + r, load<f32>(tmp));
      // The block's 32 int8 values (at tmp + 8), or their magnitudes (tmp + 40) and sign masks (tmp + 72), go out 4
      // bytes at a time to their places among the group's rows.
      let values = tmp + 8;
      if (signed) {
        store<i32>(out + 16 + r, splitSigns(tmp, tmp + 40, tmp + 72));
        for (let t: usize = 0; t < 8; t++) store<u32>(out + 160 + t * 16 + r, load<u32>(tmp + 72 + t * 4));
        values = tmp + 40;
      } else {
        store<i32>(out + 16 + r, q8aSum(tmp));
      }
      for (let t: usize = 0; t < 8; t++) store<u32>(out + 32 + t * 16 + r, load<u32>(values + t * 4));
    }
  }
}

// Q8S, x for the Q8_0 decode kernel: the same d and int8 values as Q8A, stored as magnitudes |xq| (the integer
// dot's unsigned factor) and sign masks sg (0 or -1) that the weights are xor-ed with. For xq < 0, |xq| (w xor -1)
// = |xq| (-w - 1) = xq w - |xq|, so sum(w xq) = sum(|xq| (w xor sg)) + c with c = sum of |xq| over the negative xq:
// exact for every w, -128 included, at one op per 16 weights. Per group of 4 blocks of 32 (288 bytes): f32x4 d of
// the 4 blocks, i32x4 their c, then per block 32 bytes |xq| and 32 bytes sg. Blocks past the end of x are zero.
export const Q8S_GROUP_BYTES: usize = 288;

/** dst (ceil(n / 128) groups of Q8S) from x (n f32, n a multiple of 32); tmp: 40 bytes of scratch. */
export function quantizeQ8S(dst: usize, x: usize, n: i32, tmp: usize): void {
  const blocks = n / 32;
  memory.fill(dst, 0, <usize>((blocks + 3) >> 2) * Q8S_GROUP_BYTES);
  for (let b = 0; b < blocks; b++) {
    quantizeQ8A(tmp, x + <usize>b * 128, 32);
    const group = dst + <usize>(b >> 2) * Q8S_GROUP_BYTES, lane = <usize>(b & 3), block = group + 32 + lane * 64;
    store<f32>(group + lane * 4, load<f32>(tmp));
    store<i32>(group + 16 + lane * 4, splitSigns(tmp, block, block + 32));
  }
}

/**
 * The 32 int8 values of the Q8A block at q as magnitudes |xq| (32 bytes at magnitudes) and sign masks (32 bytes at
 * signs); returns c, the sum of |xq| over the negative xq.
 */
// @ts-ignore: decorator
@inline function splitSigns(q: usize, magnitudes: usize, signs: usize): i32 {
  let negatives = i16x8.splat(0);
  for (let half: usize = 0; half < 2; half++) {
    const v = v128.load(q + 8 + half * 16), magnitude = i8x16.abs(v), sg = i8x16.lt_s(v, i8x16.splat(0));
    v128.store(magnitudes + half * 16, magnitude);
    v128.store(signs + half * 16, sg);
    negatives = i16x8.add(negatives, i16x8.extadd_pairwise_i8x16_u(v128.and(magnitude, sg)));
  }
  const c = i32x4.extadd_pairwise_i16x8_u(negatives);
  return i32x4.extract_lane(c, 0) + i32x4.extract_lane(c, 1) + i32x4.extract_lane(c, 2) + i32x4.extract_lane(c, 3);
}

// Q8G, x for the Q4_0 decode kernel: Q8A's d and int8 values by groups of 4 blocks of 32 (160 bytes): f32x4 d of the
// 4 blocks, f32x4 d sum(xq) of each, then the 4 blocks' 32 int8 values. Blocks past the end of x are zero.
export const Q8G_GROUP_BYTES: usize = 160;

/** dst (ceil(n / 128) groups of Q8G) from x (n f32, n a multiple of 32); tmp: 40 bytes of scratch. */
export function quantizeQ8G(dst: usize, x: usize, n: i32, tmp: usize): void {
  const blocks = n / 32;
  memory.fill(dst, 0, <usize>((blocks + 3) >> 2) * Q8G_GROUP_BYTES);
  for (let b = 0; b < blocks; b++) {
    quantizeQ8A(tmp, x + <usize>b * 128, 32);
    const group = dst + <usize>(b >> 2) * Q8G_GROUP_BYTES, lane = <usize>(b & 3);
    store<f32>(group + lane * 4, load<f32>(tmp));
    store<f32>(group + 16 + lane * 4, load<f32>(tmp) * <f32>q8aSum(tmp));
    memory.copy(group + 32 + lane * 32, tmp + 8, 32);
  }
}
