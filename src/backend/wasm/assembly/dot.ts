// Dot products of one weight row (as stored), or two (the *Rows functions, which load x once for both), with one
// activation row, for the matvec (decode) kernels: f32 x for f32 and bf16, f32 x times 2^72 for f16 (2^62 for
// rebased halves), and x quantized for the block types (q8a.ts): Q8S for Q8_0, Q8G for Q4_0, Q8K for Q4_K and Q6_K.
import { dotI8SignedBy, f16, F16_REBIAS, F16_UNSCALE, f16x4, f16x4Exact, f16x8High, f16x8Low, F16_LOOK_AHEAD, hsum, LOOK_AHEAD, lookedAhead, madd, onesI16, pairBlocks, pairDot, touch } from './simd';
import { Q8G_GROUP_BYTES, Q8K_BYTES, Q8S_GROUP_BYTES } from './q8a';

/** w (cols f32) . x (cols f32), 4 accumulators of 4 lanes. */
// @ts-ignore: decorator
@inline export function dotF32(w: usize, x: usize, cols: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let c = 0;
  for (; c + 16 <= cols; c += 16) {
    const o = <usize>c * 4;
    a0 = madd(v128.load(w + o), v128.load(x + o), a0);
    a1 = madd(v128.load(w + o + 16), v128.load(x + o + 16), a1);
    a2 = madd(v128.load(w + o + 32), v128.load(x + o + 32), a2);
    a3 = madd(v128.load(w + o + 48), v128.load(x + o + 48), a3);
  }
  for (; c + 4 <= cols; c += 4) a0 = madd(v128.load(w + <usize>c * 4), v128.load(x + <usize>c * 4), a0);
  let sum = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; c < cols; c++) sum += load<f32>(w + <usize>c * 4) * load<f32>(x + <usize>c * 4);
  return sum;
}

/**
 * Two f32 rows w0, w1 . x, for decode, to out0 and out1: each row summed as dotF32 sums it (the same four
 * accumulators, the same order, so the same result), x loaded once for both, and each row touched LOOK_AHEAD bytes
 * ahead (see simd.ts).
 */
// @ts-ignore: decorator
@inline export function dotF32Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let touched: u32 = 0;
  let c = 0;
  for (; c + 16 <= cols; c += 16) {
    const o = <usize>c * 4;
    touched += touch(w0 + o + LOOK_AHEAD) + touch(w1 + o + LOOK_AHEAD);
    const x0 = v128.load(x + o), x1 = v128.load(x + o + 16), x2 = v128.load(x + o + 32), x3 = v128.load(x + o + 48);
    a0 = madd(v128.load(w0 + o), x0, a0);
    b0 = madd(v128.load(w1 + o), x0, b0);
    a1 = madd(v128.load(w0 + o + 16), x1, a1);
    b1 = madd(v128.load(w1 + o + 16), x1, b1);
    a2 = madd(v128.load(w0 + o + 32), x2, a2);
    b2 = madd(v128.load(w1 + o + 32), x2, b2);
    a3 = madd(v128.load(w0 + o + 48), x3, a3);
    b3 = madd(v128.load(w1 + o + 48), x3, b3);
  }
  for (; c + 4 <= cols; c += 4) {
    const o = <usize>c * 4, xv = v128.load(x + o);
    a0 = madd(v128.load(w0 + o), xv, a0);
    b0 = madd(v128.load(w1 + o), xv, b0);
  }
  let s0 = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3))), s1 = hsum(f32x4.add(f32x4.add(b0, b1), f32x4.add(b2, b3)));
  for (; c < cols; c++) {
    const xs = load<f32>(x + <usize>c * 4);
    s0 += load<f32>(w0 + <usize>c * 4) * xs;
    s1 += load<f32>(w1 + <usize>c * 4) * xs;
  }
  store<f32>(out0, s0);
  store<f32>(out1, s1);
  lookedAhead(touched);
}

/**
 * Two bf16 rows w0, w1 . f32 x, for decode, to out0 and out1 (a bf16 is the top half of an f32), x loaded once for
 * both, each row touched LOOK_AHEAD bytes ahead (see simd.ts).
 */
// @ts-ignore: decorator
@inline export function dotBF16Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let touched: u32 = 0;
  let c = 0;
  for (; c + 8 <= cols; c += 8) {
    const xc = x + <usize>c * 4, x0 = v128.load(xc), x1 = v128.load(xc + 16);
    const g = v128.load(w0 + <usize>c * 2), h = v128.load(w1 + <usize>c * 2);
    touched += touch(w0 + <usize>c * 2 + LOOK_AHEAD) + touch(w1 + <usize>c * 2 + LOOK_AHEAD);
    a0 = madd(v128.shl<i32>(i32x4.extend_low_i16x8_u(g), 16), x0, a0);
    a1 = madd(v128.shl<i32>(i32x4.extend_high_i16x8_u(g), 16), x1, a1);
    b0 = madd(v128.shl<i32>(i32x4.extend_low_i16x8_u(h), 16), x0, b0);
    b1 = madd(v128.shl<i32>(i32x4.extend_high_i16x8_u(h), 16), x1, b1);
  }
  let s0 = hsum(f32x4.add(a0, a1)), s1 = hsum(f32x4.add(b0, b1));
  for (; c < cols; c++) {
    const xs = load<f32>(x + <usize>c * 4);
    s0 += reinterpret<f32>(<u32>load<u16>(w0 + <usize>c * 2) << 16) * xs;
    s1 += reinterpret<f32>(<u32>load<u16>(w1 + <usize>c * 2) << 16) * xs;
  }
  store<f32>(out0, s0);
  store<f32>(out1, s1);
  lookedAhead(touched);
}

/**
 * Two Q8_0 rows w0, w1 . Q8S x (q8a.ts), for decode, to out0 and out1: per block d_w d_x (sum(|xq| (w xor sg)) + c).
 * Loads bound this kernel, so each block of x (4 loads, and its c) serves both rows: 4.5 loads a block a row
 * instead of 7. The d_w of 4 blocks are gathered and decoded together and multiplied by the group's 4 d_x; each
 * block then takes lane 0 and turns the scales by one lane. The blocks of a group run as a loop, not unrolled:
 * unrolled, the compiler loads x ahead for all four and runs out of registers. One accumulator a row is enough:
 * a block takes longer than its multiply-add's latency.
 */
// @ts-ignore: decorator
@inline export function dotQ8_0Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32, exactScales: bool): void {
  const blocks = cols / 32, ones = onesI16(cols);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let touched: u32 = 0;
  let b = 0;
  for (; b + 4 <= blocks; b += 4) {
    const wg0 = w0 + <usize>b * 34, wg1 = w1 + <usize>b * 34, xg = x + <usize>(b >> 2) * Q8S_GROUP_BYTES;
    touched += touch(wg0 + LOOK_AHEAD) + touch(wg0 + 64 + LOOK_AHEAD) + touch(wg1 + LOOK_AHEAD) + touch(wg1 + 64 + LOOK_AHEAD);
    const dx = v128.load(xg);
    let s0 = f32x4.mul(f16Gather4(wg0, 34, exactScales), dx), s1 = f32x4.mul(f16Gather4(wg1, 34, exactScales), dx);
    for (let lane: usize = 0; lane < 4; lane++) {
      acc0 = madd(f32x4.convert_i32x4_s(q8sBlock(wg0 + lane * 34, xg, lane, ones)), v128.shuffle<f32>(s0, s0, 0, 0, 0, 0), acc0);
      acc1 = madd(f32x4.convert_i32x4_s(q8sBlock(wg1 + lane * 34, xg, lane, ones)), v128.shuffle<f32>(s1, s1, 0, 0, 0, 0), acc1);
      s0 = v128.shuffle<f32>(s0, s0, 1, 2, 3, 0);
      s1 = v128.shuffle<f32>(s1, s1, 1, 2, 3, 0);
    }
  }
  for (; b < blocks; b++) {
    const wb0 = w0 + <usize>b * 34, wb1 = w1 + <usize>b * 34, xg = x + <usize>(b >> 2) * Q8S_GROUP_BYTES, lane = <usize>(b & 3);
    const dx = load<f32>(xg + lane * 4);
    acc0 = madd(f32x4.convert_i32x4_s(q8sBlock(wb0, xg, lane, ones)), f32x4.splat(f16(load<u16>(wb0)) * dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(q8sBlock(wb1, xg, lane, ones)), f32x4.splat(f16(load<u16>(wb1)) * dx), acc1);
  }
  store<f32>(out0, hsum(acc0));
  store<f32>(out1, hsum(acc1));
  lookedAhead(touched);
}

/**
 * The f16 values at p, p + stride, p + 2 stride and p + 3 stride (4 blocks' scales), as f32x4; `exact` for a tensor
 * whose scales include f16 subnormals (f16x4Exact: in one with weights of about 1e-4, f16x4's subnormals made Q8_0
 * decode 5x slower, Q4_0's 6x).
 */
// @ts-ignore: decorator
@inline function f16Gather4(p: usize, stride: usize, exact: bool): v128 {
  let d = i16x8.replace_lane(i16x8.splat(load<u16>(p)), 1, load<u16>(p + stride));
  d = i16x8.replace_lane(i16x8.replace_lane(d, 2, load<u16>(p + 2 * stride)), 3, load<u16>(p + 3 * stride));
  return exact ? f16x4Exact(d) : f16x4(d);
}

/** The i32x4 partial sums of sum(w xq) for one Q8_0 block at wb and block `lane` of the Q8S group at xg. */
// @ts-ignore: decorator
@inline function q8sBlock(wb: usize, xg: usize, lane: usize, ones: v128): v128 {
  const xb = xg + 32 + lane * 64;
  const isum = dotI8SignedBy(v128.load(wb + 2), v128.load(xb + 32), v128.load(xb), v128.load32_zero(xg + 16 + lane * 4), ones);
  return dotI8SignedBy(v128.load(wb + 18), v128.load(xb + 48), v128.load(xb + 16), isum, ones);
}

/**
 * Two Q4_0 rows w0, w1 (18-byte blocks: f16 d, 16 bytes of nibbles n, low nibbles are elements 0..15) . Q8G x
 * (q8a.ts), to out0 and out1: per block d_w d_x (sum(n xq) - 8 sum(xq)), the nibbles taken as they are. As in
 * dotQ8_0Rows, each block of x serves both rows. A group of 4 blocks is added up in i16 (pairBlocks, then the
 * passes below) and widened once to an i32x4 of the 4 blocks' sums, which is converted once and multiplied by the 4
 * scales d_w d_x at once, where each block took a widening, a conversion and two shuffles of its own (in cache,
 * 1.04 -> 0.94 ns a block at 2048 columns). The blocks of a group run as a loop of 2 passes, not unrolled: unrolled,
 * the compiler loads x ahead for all four and runs out of registers. The d_w of 4 blocks are decoded together, and
 * times the group's d_x sum(xq) they add to the offset's 4 lanes.
 */
// @ts-ignore: decorator
@inline export function dotQ4_0Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32, exactScales: bool): void {
  const blocks = cols / 32, ones = onesI16(cols), mask = i8x16.splat(<i8>(15 * <i32>(cols != 0))); // 0x0f, kept as ones is
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), offset0 = f32x4.splat(0), offset1 = f32x4.splat(0);
  let touched: u32 = 0;
  let b = 0;
  for (; b + 4 <= blocks; b += 4) {
    const wg0 = w0 + <usize>b * 18, wg1 = w1 + <usize>b * 18, xg = x + <usize>(b >> 2) * Q8G_GROUP_BYTES;
    touched += touch(wg0 + LOOK_AHEAD) + touch(wg1 + LOOK_AHEAD); // 72 bytes a row: about a cache line each
    // Two blocks a pass, each pass's pair sums moved into the top half of lo and hi (their low halves' old top
    // halves going down): after both passes, lo + hi holds blocks 0, 1 in its low half and 2, 3 in its high one.
    // (What they start with is shifted out; `ones` is at hand in a register.)
    let lo0 = ones, hi0 = ones, lo1 = ones, hi1 = ones;
    for (let pass: usize = 0; pass < 2; pass++) {
      const x0 = xg + 32 + pass * 64, ab0 = pairBlocks(q4Sums(wg0 + pass * 36, x0, mask), q4Sums(wg0 + pass * 36 + 18, x0 + 32, mask));
      const ab1 = pairBlocks(q4Sums(wg1 + pass * 36, x0, mask), q4Sums(wg1 + pass * 36 + 18, x0 + 32, mask));
      lo0 = v128.shuffle<i64>(lo0, ab0, 1, 2); hi0 = v128.shuffle<i64>(hi0, ab0, 1, 3);
      lo1 = v128.shuffle<i64>(lo1, ab1, 1, 2); hi1 = v128.shuffle<i64>(hi1, ab1, 1, 3);
    }
    const d0 = f16Gather4(wg0, 18, exactScales), d1 = f16Gather4(wg1, 18, exactScales), dx = v128.load(xg), dxSums = v128.load(xg + 16);
    acc0 = madd(f32x4.convert_i32x4_s(i32x4.dot_i16x8_s(i16x8.add(lo0, hi0), ones)), f32x4.mul(d0, dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(i32x4.dot_i16x8_s(i16x8.add(lo1, hi1), ones)), f32x4.mul(d1, dx), acc1);
    offset0 = madd(d0, dxSums, offset0);
    offset1 = madd(d1, dxSums, offset1);
  }
  let tail0: f32 = 0, tail1: f32 = 0;
  for (; b < blocks; b++) {
    const wb0 = w0 + <usize>b * 18, wb1 = w1 + <usize>b * 18, xg = x + <usize>(b >> 2) * Q8G_GROUP_BYTES, lane = <usize>(b & 3);
    const xb = xg + 32 + lane * 32, dx = load<f32>(xg + lane * 4);
    const dxSum = load<f32>(xg + 16 + lane * 4), d0 = f16(load<u16>(wb0)), d1 = f16(load<u16>(wb1));
    acc0 = madd(f32x4.convert_i32x4_s(i32x4.dot_i16x8_s(q4Sums(wb0, xb, mask), ones)), f32x4.splat(d0 * dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(i32x4.dot_i16x8_s(q4Sums(wb1, xb, mask), ones)), f32x4.splat(d1 * dx), acc1);
    tail0 += d0 * dxSum;
    tail1 += d1 * dxSum;
  }
  store<f32>(out0, hsum(acc0) - 8 * (hsum(offset0) + tail0));
  store<f32>(out1, hsum(acc1) - 8 * (hsum(offset1) + tail1));
  lookedAhead(touched);
}

/**
 * The i16x8 partial sums of sum(n xq) for one Q4_0 block at wb and its 32 int8 xq at xb: 4 products a lane,
 * |lane| <= 4 * 15 * 128 = 7680, so four such sums still add up in i16 (see dotQ4_0Rows).
 */
// @ts-ignore: decorator
@inline function q4Sums(wb: usize, xb: usize, mask: v128): v128 {
  const q = v128.load(wb + 2);
  return i16x8.add(pairDot(v128.and(q, mask), v128.load(xb)), pairDot(v128.and(i16x8.shr_u(q, 4), mask), v128.load(xb + 16)));
}

/** The 6-bit (scale, min) pair j of a Q4_K block's 12 scale bytes at s. */
// @ts-ignore: decorator
@inline export function q4kScale(s: usize, j: i32): u32 {
  return j < 4 ? load<u8>(s + j) & 63 : (load<u8>(s + j + 4) & 0x0f) | ((load<u8>(s + j - 4) >> 6) << 4);
}
// @ts-ignore: decorator
@inline export function q4kMin(s: usize, j: i32): u32 {
  return j < 4 ? load<u8>(s + j + 4) & 63 : (load<u8>(s + j + 4) >> 4) | ((load<u8>(s + j) >> 6) << 4);
}

/**
 * Q4_K rows w (144-byte blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 nibble bytes) . Q8K x.
 * Sub-block j of 32 elements is y = d sc_j q - dmin m_j, so a block's dot is dx (d sum_j sc_j sum(q xq) - dmin
 * sum_j m_j sum_j(xq)): both sums stay in integers to the block's end (|lanes| < 2^24). Bytes 32c..32c+31 hold
 * sub-block 2c in their low nibbles and 2c+1 in their high ones: one load serves both. Each sub-block's i16 pair sums
 * are widened against its scale (q4kScales), and the mins meet x's sums by 16s in two widening dots.
 * Two rows w0, w1 at once, for decode, to out0 and out1: x's 18 loads a block serve both (tinyllama Q4_K decode at 1
 * thread on an Intel Xeon: 10.6-10.8 tokens/s one row at a time, 11.6-11.8 two).
 */
// @ts-ignore: decorator
@inline export function dotQ4_KRows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let touched: u32 = 0;
  for (let b = 0; b < cols / 256; b++) {
    const wb0 = w0 + <usize>b * 144, wb1 = w1 + <usize>b * 144, xb = x + <usize>b * Q8K_BYTES, xq = xb + 48;
    touched += touch(wb0 + LOOK_AHEAD) + touch(wb0 + 64 + LOOK_AHEAD) + touch(wb0 + 128 + LOOK_AHEAD);
    touched += touch(wb1 + LOOK_AHEAD) + touch(wb1 + 64 + LOOK_AHEAD) + touch(wb1 + 128 + LOOK_AHEAD);
    const packed0 = q4kScales(wb0 + 4), packed1 = q4kScales(wb1 + 4);
    const sc0 = i16x8.extend_low_i8x16_u(packed0), sc1 = i16x8.extend_low_i8x16_u(packed1);
    const mins0 = i16x8.extend_high_i8x16_u(packed0), mins1 = i16x8.extend_high_i8x16_u(packed1);
    const xs0 = v128.load(xb + 16), xs1 = v128.load(xb + 32);
    const offset0 = i32x4.add(
      i32x4.dot_i16x8_s(xs0, i16x8.shuffle(mins0, mins0, 0, 0, 1, 1, 2, 2, 3, 3)),
      i32x4.dot_i16x8_s(xs1, i16x8.shuffle(mins0, mins0, 4, 4, 5, 5, 6, 6, 7, 7)));
    const offset1 = i32x4.add(
      i32x4.dot_i16x8_s(xs0, i16x8.shuffle(mins1, mins1, 0, 0, 1, 1, 2, 2, 3, 3)),
      i32x4.dot_i16x8_s(xs1, i16x8.shuffle(mins1, mins1, 4, 4, 5, 5, 6, 6, 7, 7)));
    const sc03a = i16x8.shuffle(sc0, sc0, 0, 0, 1, 1, 2, 2, 3, 3), sc47a = i16x8.shuffle(sc0, sc0, 4, 4, 5, 5, 6, 6, 7, 7);
    const sc03b = i16x8.shuffle(sc1, sc1, 0, 0, 1, 1, 2, 2, 3, 3), sc47b = i16x8.shuffle(sc1, sc1, 4, 4, 5, 5, 6, 6, 7, 7);
    // Per 64 values of x (sub-blocks 2c and 2c + 1, c = 0..3), loaded once for both rows; each pair's two scales
    // splat from sc03 (c = 0, 1) or sc47 (c = 2, 3).
    let x0 = v128.load(xq), x1 = v128.load(xq + 16), x2 = v128.load(xq + 32), x3 = v128.load(xq + 48);
    let isum0 = q4kPair(wb0 + 16, x0, x1, x2, x3, v128.shuffle<i32>(sc03a, sc03a, 0, 0, 0, 0), v128.shuffle<i32>(sc03a, sc03a, 1, 1, 1, 1), i32x4.splat(0));
    let isum1 = q4kPair(wb1 + 16, x0, x1, x2, x3, v128.shuffle<i32>(sc03b, sc03b, 0, 0, 0, 0), v128.shuffle<i32>(sc03b, sc03b, 1, 1, 1, 1), i32x4.splat(0));
    x0 = v128.load(xq + 64); x1 = v128.load(xq + 80); x2 = v128.load(xq + 96); x3 = v128.load(xq + 112);
    isum0 = q4kPair(wb0 + 48, x0, x1, x2, x3, v128.shuffle<i32>(sc03a, sc03a, 2, 2, 2, 2), v128.shuffle<i32>(sc03a, sc03a, 3, 3, 3, 3), isum0);
    isum1 = q4kPair(wb1 + 48, x0, x1, x2, x3, v128.shuffle<i32>(sc03b, sc03b, 2, 2, 2, 2), v128.shuffle<i32>(sc03b, sc03b, 3, 3, 3, 3), isum1);
    x0 = v128.load(xq + 128); x1 = v128.load(xq + 144); x2 = v128.load(xq + 160); x3 = v128.load(xq + 176);
    isum0 = q4kPair(wb0 + 80, x0, x1, x2, x3, v128.shuffle<i32>(sc47a, sc47a, 0, 0, 0, 0), v128.shuffle<i32>(sc47a, sc47a, 1, 1, 1, 1), isum0);
    isum1 = q4kPair(wb1 + 80, x0, x1, x2, x3, v128.shuffle<i32>(sc47b, sc47b, 0, 0, 0, 0), v128.shuffle<i32>(sc47b, sc47b, 1, 1, 1, 1), isum1);
    x0 = v128.load(xq + 192); x1 = v128.load(xq + 208); x2 = v128.load(xq + 224); x3 = v128.load(xq + 240);
    isum0 = q4kPair(wb0 + 112, x0, x1, x2, x3, v128.shuffle<i32>(sc47a, sc47a, 2, 2, 2, 2), v128.shuffle<i32>(sc47a, sc47a, 3, 3, 3, 3), isum0);
    isum1 = q4kPair(wb1 + 112, x0, x1, x2, x3, v128.shuffle<i32>(sc47b, sc47b, 2, 2, 2, 2), v128.shuffle<i32>(sc47b, sc47b, 3, 3, 3, 3), isum1);
    const dx = load<f32>(xb);
    acc0 = madd(f32x4.convert_i32x4_s(isum0), f32x4.splat(f16(load<u16>(wb0)) * dx), acc0);
    acc0 = madd(f32x4.convert_i32x4_s(offset0), f32x4.splat(-f16(load<u16>(wb0 + 2)) * dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(isum1), f32x4.splat(f16(load<u16>(wb1)) * dx), acc1);
    acc1 = madd(f32x4.convert_i32x4_s(offset1), f32x4.splat(-f16(load<u16>(wb1 + 2)) * dx), acc1);
  }
  store<f32>(out0, hsum(acc0));
  store<f32>(out1, hsum(acc1));
  lookedAhead(touched);
}

/**
 * The 6-bit scales sc_0..7 (bytes 0..7) and mins m_0..7 (bytes 8..15) of a Q4_K block's 12 scale bytes at s, as
 * bytes. Bytes 0..3 hold sc_0..3 and bytes 4..7 m_0..3 in their low 6 bits; bytes 8..11 the low 4 bits of sc_4..7
 * (low nibbles) and m_4..7 (high ones), whose top 2 bits are the top 2 of bytes 0..3 and 4..7.
 */
// @ts-ignore: decorator
@inline export function q4kScales(s: usize): v128 {
  const a = load<u32>(s), b = load<u32>(s + 4), c = load<u32>(s + 8);
  let v = i32x4.splat(a & 0x3f3f3f3f);
  v = i32x4.replace_lane(v, 1, (c & 0x0f0f0f0f) | ((a >> 2) & 0x30303030));
  v = i32x4.replace_lane(v, 2, b & 0x3f3f3f3f);
  return i32x4.replace_lane(v, 3, ((c >> 4) & 0x0f0f0f0f) | ((b >> 2) & 0x30303030));
}

/**
 * isum + the dots of sub-blocks 2c (low nibbles of the 32 bytes at q) and 2c+1 (their high nibbles) with their 64
 * int8 x values (x0, x1 against the low nibbles, x2, x3 against the high), each widened against its scale (i16
 * lanes, all sc): |pair sums| <= 4 * 15 * 127 < 2^15.
 */
// @ts-ignore: decorator
@inline function q4kPair(q: usize, x0: v128, x1: v128, x2: v128, x3: v128, scLow: v128, scHigh: v128, isum: v128): v128 {
  const mask = i8x16.splat(0x0f);
  const q0 = v128.load(q), q1 = v128.load(q + 16);
  const low = i16x8.add(pairDot(v128.and(q0, mask), x0), pairDot(v128.and(q1, mask), x1));
  const high = i16x8.add(pairDot(v128.and(i16x8.shr_u(q0, 4), mask), x2), pairDot(v128.and(i16x8.shr_u(q1, 4), mask), x3));
  return i32x4.add(isum, i32x4.add(i32x4.dot_i16x8_s(low, scLow), i32x4.dot_i16x8_s(high, scHigh)));
}

/**
 * Two Q6_K rows w0, w1 (210-byte blocks of 256: 128 bytes low nibbles ql, 64 bytes high pairs qh, 16 int8 scales,
 * f16 d last) . Q8K x, to out0 and out1. Each 6-bit value u (0..63) is built as a byte, 16 at a time, dotted with
 * x's int8 values as it is, and the pair sums widened against its 16 values' scale; the -32 comes back once a block,
 * as 32 sum_j sc_j (x's sum over the 16 values j). A block's sum stays in integers to its end (|lanes| < 2^28) and
 * meets the float d dx once. In half h of a block, bytes ql[64h + l] hold element 128h + l in their low nibble and
 * 128h + 64 + l in their high one, qh[32h + l] the top 2 bits of elements 128h + l + 32t in bits 2t, 2t + 1 (l < 32,
 * t < 4); element 128h + 32t + l is group t's value l (q6Values), with scale 8h + 2t + (l >= 16). Each load of x
 * serves both rows; each row's sums are those of one row alone (Q6_K from memory at 1 thread: 7.4 -> 8.0-8.4 GB/s).
 */
// @ts-ignore: decorator
@inline export function dotQ6_KRows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  const live = <i32>(cols != 0), low4 = i8x16.splat(<i8>(0x0f * live)), top2 = i8x16.splat(<i8>(0x30 * live)); // kept in registers, as onesI16
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let touched: u32 = 0;
  for (let b = 0; b < cols / 256; b++) {
    const wb0 = w0 + <usize>b * 210, wb1 = w1 + <usize>b * 210, xb = x + <usize>b * Q8K_BYTES;
    touched += touch(wb0 + LOOK_AHEAD) + touch(wb0 + 64 + LOOK_AHEAD) + touch(wb0 + 128 + LOOK_AHEAD) + touch(wb0 + 192 + LOOK_AHEAD);
    touched += touch(wb1 + LOOK_AHEAD) + touch(wb1 + 64 + LOOK_AHEAD) + touch(wb1 + 128 + LOOK_AHEAD) + touch(wb1 + 192 + LOOK_AHEAD);
    const xs0 = v128.load(xb + 16), xs1 = v128.load(xb + 32);
    const scales0 = v128.load(wb0 + 192), scales1 = v128.load(wb1 + 192);
    const sc0a = i16x8.extend_low_i8x16_s(scales0), sc1a = i16x8.extend_high_i8x16_s(scales0);
    const sc0b = i16x8.extend_low_i8x16_s(scales1), sc1b = i16x8.extend_high_i8x16_s(scales1);
    let isum0 = i32x4.neg(i32x4.shl(i32x4.add(i32x4.dot_i16x8_s(sc0a, xs0), i32x4.dot_i16x8_s(sc1a, xs1)), 5));
    let isum1 = i32x4.neg(i32x4.shl(i32x4.add(i32x4.dot_i16x8_s(sc0b, xs0), i32x4.dot_i16x8_s(sc1b, xs1)), 5));
    for (let h = 0; h < 2; h++) {
      const ql0 = wb0 + h * 64, qh0 = wb0 + 128 + h * 32, ql1 = wb1 + h * 64, qh1 = wb1 + 128 + h * 32;
      const xq = xb + 48 + h * 128, sca = h == 0 ? sc0a : sc1a, scb = h == 0 ? sc0b : sc1b;
      // Groups 0..3 take the half's scales 0..3, groups 4..7 scales 4..7 (q6Group's pairs widen against one each).
      const a03 = i16x8.shuffle(sca, sca, 0, 0, 1, 1, 2, 2, 3, 3), a47 = i16x8.shuffle(sca, sca, 4, 4, 5, 5, 6, 6, 7, 7);
      const b03 = i16x8.shuffle(scb, scb, 0, 0, 1, 1, 2, 2, 3, 3), b47 = i16x8.shuffle(scb, scb, 4, 4, 5, 5, 6, 6, 7, 7);
      let xv = v128.load(xq);
      isum0 = q6Group(q6Values(v128.load(ql0), v128.load(qh0), 0, low4, top2), xv, v128.shuffle<i32>(a03, a03, 0, 0, 0, 0), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1), v128.load(qh1), 0, low4, top2), xv, v128.shuffle<i32>(b03, b03, 0, 0, 0, 0), isum1);
      xv = v128.load(xq + 16);
      isum0 = q6Group(q6Values(v128.load(ql0 + 16), v128.load(qh0 + 16), 0, low4, top2), xv, v128.shuffle<i32>(a03, a03, 1, 1, 1, 1), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1 + 16), v128.load(qh1 + 16), 0, low4, top2), xv, v128.shuffle<i32>(b03, b03, 1, 1, 1, 1), isum1);
      xv = v128.load(xq + 32);
      isum0 = q6Group(q6Values(v128.load(ql0 + 32), v128.load(qh0), 1, low4, top2), xv, v128.shuffle<i32>(a03, a03, 2, 2, 2, 2), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1 + 32), v128.load(qh1), 1, low4, top2), xv, v128.shuffle<i32>(b03, b03, 2, 2, 2, 2), isum1);
      xv = v128.load(xq + 48);
      isum0 = q6Group(q6Values(v128.load(ql0 + 48), v128.load(qh0 + 16), 1, low4, top2), xv, v128.shuffle<i32>(a03, a03, 3, 3, 3, 3), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1 + 48), v128.load(qh1 + 16), 1, low4, top2), xv, v128.shuffle<i32>(b03, b03, 3, 3, 3, 3), isum1);
      xv = v128.load(xq + 64);
      isum0 = q6Group(q6Values(v128.load(ql0), v128.load(qh0), 2, low4, top2), xv, v128.shuffle<i32>(a47, a47, 0, 0, 0, 0), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1), v128.load(qh1), 2, low4, top2), xv, v128.shuffle<i32>(b47, b47, 0, 0, 0, 0), isum1);
      xv = v128.load(xq + 80);
      isum0 = q6Group(q6Values(v128.load(ql0 + 16), v128.load(qh0 + 16), 2, low4, top2), xv, v128.shuffle<i32>(a47, a47, 1, 1, 1, 1), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1 + 16), v128.load(qh1 + 16), 2, low4, top2), xv, v128.shuffle<i32>(b47, b47, 1, 1, 1, 1), isum1);
      xv = v128.load(xq + 96);
      isum0 = q6Group(q6Values(v128.load(ql0 + 32), v128.load(qh0), 3, low4, top2), xv, v128.shuffle<i32>(a47, a47, 2, 2, 2, 2), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1 + 32), v128.load(qh1), 3, low4, top2), xv, v128.shuffle<i32>(b47, b47, 2, 2, 2, 2), isum1);
      xv = v128.load(xq + 112);
      isum0 = q6Group(q6Values(v128.load(ql0 + 48), v128.load(qh0 + 16), 3, low4, top2), xv, v128.shuffle<i32>(a47, a47, 3, 3, 3, 3), isum0);
      isum1 = q6Group(q6Values(v128.load(ql1 + 48), v128.load(qh1 + 16), 3, low4, top2), xv, v128.shuffle<i32>(b47, b47, 3, 3, 3, 3), isum1);
    }
    const dx = load<f32>(xb);
    acc0 = madd(f32x4.convert_i32x4_s(isum0), f32x4.splat(f16(load<u16>(wb0 + 208)) * dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(isum1), f32x4.splat(f16(load<u16>(wb1 + 208)) * dx), acc1);
  }
  store<f32>(out0, hsum(acc0));
  store<f32>(out1, hsum(acc1));
  lookedAhead(touched);
}

/**
 * The 6-bit values (0..63, a byte each) of 16 elements of group t (0..3) of a Q6_K half: their low 4 bits are the
 * low nibbles of ql bytes L (t = 0, 1) or the high ones (t = 2, 3), their top 2 bits bits 2t, 2t + 1 of qh bytes H.
 * Shifts are 16-bit (x64 has no byte shifts) and masked; low4 and top2 are byte splats of 0x0f and 0x30, passed in
 * so that V8 builds them once.
 */
// @ts-ignore: decorator
@inline export function q6Values(L: v128, H: v128, t: i32, low4: v128, top2: v128): v128 {
  const nibbles = t < 2 ? L : i16x8.shr_u(L, 4);
  const top = t == 0 ? i16x8.shl(H, 4) : t == 1 ? i16x8.shl(H, 2) : t == 2 ? H : i16x8.shr_u(H, 2);
  return v128.or(v128.and(nibbles, low4), v128.and(top, top2));
}

/** isum + the pair sums of 16 values u (0..63) and 16 int8 of x (|each| <= 2 * 63 * 127), times scale. */
// @ts-ignore: decorator
@inline function q6Group(u: v128, x: v128, scale: v128, isum: v128): v128 {
  return i32x4.add(isum, i32x4.dot_i16x8_s(pairDot(u, x), scale));
}

/**
 * Two f16 rows w0, w1 . f32 x, to out0 and out1: each x load serves both rows. x comes as x 2^72 (the backend scales
 * it once): the halves decoded by f16x8Low/High are w / 2^112, so each product is w x / 2^40, and the sums times
 * 2^40 are w . x, saving the rebias multiply per 4 weights. Only products below 2^-86 (not rounded as w x would be,
 * being subnormal after the scaling) and an x of 2^56 and above (which overflows) tell the difference. Halves
 * rebased at load (rebase.ts) are w 2^10, and their x comes as x 2^62: the same products. Two
 * accumulators a row, 8 columns a step: more would not fit the 16 vector registers.
 */
// @ts-ignore: decorator
@inline export function dotF16Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let touched: u32 = 0;
  let c = 0;
  for (; c + 8 <= cols; c += 8) {
    const xc = x + <usize>c * 4, x0 = v128.load(xc), x1 = v128.load(xc + 16);
    const g = v128.load(w0 + <usize>c * 2), h = v128.load(w1 + <usize>c * 2);
    touched += touch(w0 + <usize>c * 2 + F16_LOOK_AHEAD) + touch(w1 + <usize>c * 2 + F16_LOOK_AHEAD);
    a0 = madd(f16x8Low(g), x0, a0);
    a1 = madd(f16x8High(g), x1, a1);
    b0 = madd(f16x8Low(h), x0, b0);
    b1 = madd(f16x8High(h), x1, b1);
  }
  let s0 = hsum(f32x4.add(a0, a1)), s1 = hsum(f32x4.add(b0, b1));
  for (; c < cols; c++) {
    const xs = load<f32>(x + <usize>c * 4) / F16_REBIAS;
    s0 += f16(load<u16>(w0 + <usize>c * 2)) * xs;
    s1 += f16(load<u16>(w1 + <usize>c * 2)) * xs;
  }
  store<f32>(out0, s0 * F16_UNSCALE);
  store<f32>(out1, s1 * F16_UNSCALE);
  lookedAhead(touched);
}
