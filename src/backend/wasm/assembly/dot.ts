// Dot products of one weight row (as stored), or two (the *Rows functions, which load x once for both), with one
// activation row, for the matvec (decode) kernels: f32 x for f32 and bf16, f32 x times 2^72 for f16, and x
// quantized for the block types (q8a.ts): Q8S for Q8_0, Q8G for Q4_0, Q8A for Q4_K and Q6_K.
import { dotI8SignedBy, dotU4Pair, dotU4PairI16, dotU7Scaled, f16, F16_REBIAS, F16_UNSCALE, f16x4, f16x8High, f16x8Low, hsum, madd, onesI16, pairBlocks } from './simd';
import { Q8A_BYTES, Q8G_GROUP_BYTES, q8aHalfSum, q8aSum, Q8S_GROUP_BYTES } from './q8a';

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
 * f16 w . f32 x, with x given as x 2^72 (the backend scales it once): the halves decoded by f16x8Low/High are
 * w / 2^112, so each product is w x / 2^40, and the sum times 2^40 is w . x, saving the rebias multiply per 4
 * weights. Only products below 2^-86 (not rounded as w x would be, being subnormal after the scaling) and an x of
 * 2^56 and above (which overflows) tell the difference.
 */
// @ts-ignore: decorator
@inline export function dotF16(w: usize, x: usize, cols: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let c = 0;
  for (; c + 16 <= cols; c += 16) {
    const h0 = v128.load(w + <usize>c * 2), h1 = v128.load(w + <usize>c * 2 + 16);
    const xc = x + <usize>c * 4;
    a0 = madd(f16x8Low(h0), v128.load(xc), a0);
    a1 = madd(f16x8High(h0), v128.load(xc + 16), a1);
    a2 = madd(f16x8Low(h1), v128.load(xc + 32), a2);
    a3 = madd(f16x8High(h1), v128.load(xc + 48), a3);
  }
  for (; c + 8 <= cols; c += 8) {
    const h = v128.load(w + <usize>c * 2);
    a0 = madd(f16x8Low(h), v128.load(x + <usize>c * 4), a0);
    a1 = madd(f16x8High(h), v128.load(x + <usize>c * 4 + 16), a1);
  }
  let sum = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; c < cols; c++) sum += f16(load<u16>(w + <usize>c * 2)) * (load<f32>(x + <usize>c * 4) / F16_REBIAS);
  return sum * F16_UNSCALE;
}

/** bf16 w . f32 x: a bf16 is the top half of an f32. */
// @ts-ignore: decorator
@inline export function dotBF16(w: usize, x: usize, cols: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let c = 0;
  for (; c + 8 <= cols; c += 8) {
    const h = v128.load(w + <usize>c * 2);
    a0 = f32x4.add(a0, f32x4.mul(v128.shl<i32>(i32x4.extend_low_i16x8_u(h), 16), v128.load(x + <usize>c * 4)));
    a1 = f32x4.add(a1, f32x4.mul(v128.shl<i32>(i32x4.extend_high_i16x8_u(h), 16), v128.load(x + <usize>c * 4 + 16)));
  }
  let sum = hsum(f32x4.add(a0, a1));
  for (; c < cols; c++) sum += reinterpret<f32>(<u32>load<u16>(w + <usize>c * 2) << 16) * load<f32>(x + <usize>c * 4);
  return sum;
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
@inline export function dotQ8_0Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  const blocks = cols / 32, ones = onesI16(cols);
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= blocks; b += 4) {
    const wg0 = w0 + <usize>b * 34, wg1 = w1 + <usize>b * 34, xg = x + <usize>(b >> 2) * Q8S_GROUP_BYTES;
    const dx = v128.load(xg);
    let s0 = f32x4.mul(f16Gather4(wg0, 34), dx), s1 = f32x4.mul(f16Gather4(wg1, 34), dx);
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
}

/** The f16 values at p, p + stride, p + 2 stride and p + 3 stride (4 blocks' scales), as f32x4. */
// @ts-ignore: decorator
@inline function f16Gather4(p: usize, stride: usize): v128 {
  const d = i16x8.replace_lane(i16x8.splat(load<u16>(p)), 1, load<u16>(p + stride));
  return f16x4(i16x8.replace_lane(i16x8.replace_lane(d, 2, load<u16>(p + 2 * stride)), 3, load<u16>(p + 3 * stride)));
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
@inline export function dotQ4_0Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  const blocks = cols / 32, ones = onesI16(cols), mask = i8x16.splat(<i8>(15 * <i32>(cols != 0))); // 0x0f, kept as ones is
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), offset0 = f32x4.splat(0), offset1 = f32x4.splat(0);
  let b = 0;
  for (; b + 4 <= blocks; b += 4) {
    const wg0 = w0 + <usize>b * 18, wg1 = w1 + <usize>b * 18, xg = x + <usize>(b >> 2) * Q8G_GROUP_BYTES;
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
    const d0 = f16Gather4(wg0, 18), d1 = f16Gather4(wg1, 18), dx = v128.load(xg), dxSums = v128.load(xg + 16);
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
}

/** The i16x8 partial sums of sum(n xq) for one Q4_0 block at wb and its 32 int8 xq at xb (dotU4PairI16). */
// @ts-ignore: decorator
@inline function q4Sums(wb: usize, xb: usize, mask: v128): v128 {
  const q = v128.load(wb + 2);
  return dotU4PairI16(v128.and(q, mask), v128.load(xb), v128.and(i16x8.shr_u(q, 4), mask), v128.load(xb + 16));
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
 * Q4_K w (144-byte blocks of 256: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes) . Q8A x. Sub-block j of 32
 * elements is y = d sc_j q - dmin m_j, so its dot is d sc_j dx sum(q xq) - dmin m_j dx sum(xq). Bytes 32c..32c+31
 * hold sub-block 2c in their low nibbles and 2c+1 in their high ones: one load serves both.
 */
// @ts-ignore: decorator
@inline export function dotQ4_K(w: usize, x: usize, cols: i32): f32 {
  const ones = onesI16(cols);
  let sum: f32 = 0;
  for (let b = 0; b < cols / 256; b++) {
    const wb = w + <usize>b * 144, xb = x + <usize>b * 8 * Q8A_BYTES;
    let acc = f32x4.splat(0), offset = f32x4.splat(0);
    acc = q4kPair(wb, xb, 0, acc, ones); acc = q4kPair(wb, xb, 1, acc, ones);
    acc = q4kPair(wb, xb, 2, acc, ones); acc = q4kPair(wb, xb, 3, acc, ones);
    offset = q4kMins(wb, xb, 0, offset); offset = q4kMins(wb, xb, 1, offset);
    sum += f16(load<u16>(wb)) * hsum(acc) - f16(load<u16>(wb + 2)) * hsum(offset);
  }
  return sum;
}

/** acc + sc_j dx_j sum(q xq) for sub-blocks j = 2c, 2c+1 of the Q4_K block at wb (x's 8 Q8A blocks at xb). */
// @ts-ignore: decorator
@inline function q4kPair(wb: usize, xb: usize, c: i32, acc: v128, ones: v128): v128 {
  const mask = i8x16.splat(0x0f);
  const q0 = v128.load(wb + 16 + c * 32), q1 = v128.load(wb + 32 + c * 32);
  const xl = xb + <usize>(2 * c) * Q8A_BYTES, xh = xl + Q8A_BYTES;
  const low = dotU4Pair(v128.and(q0, mask), v128.load(xl + 8), v128.and(q1, mask), v128.load(xl + 24), ones);
  const high = dotU4Pair(v128.and(i16x8.shr_u(q0, 4), mask), v128.load(xh + 8), v128.and(i16x8.shr_u(q1, 4), mask), v128.load(xh + 24), ones);
  acc = madd(f32x4.convert_i32x4_s(low), f32x4.splat(<f32>q4kScale(wb + 4, 2 * c) * load<f32>(xl)), acc);
  return madd(f32x4.convert_i32x4_s(high), f32x4.splat(<f32>q4kScale(wb + 4, 2 * c + 1) * load<f32>(xh)), acc);
}

/** offset + lanes m_j dx_j sum_j(xq) for sub-blocks j = 4h..4h+3 of the Q4_K block at wb. */
// @ts-ignore: decorator
@inline function q4kMins(wb: usize, xb: usize, h: i32, offset: v128): v128 {
  const j = 4 * h;
  let mins = i32x4.splat(q4kMin(wb + 4, j));
  mins = i32x4.replace_lane(mins, 1, q4kMin(wb + 4, j + 1));
  mins = i32x4.replace_lane(mins, 2, q4kMin(wb + 4, j + 2));
  mins = i32x4.replace_lane(mins, 3, q4kMin(wb + 4, j + 3));
  let xs = f32x4.splat(load<f32>(xb + <usize>j * Q8A_BYTES) * <f32>q8aSum(xb + <usize>j * Q8A_BYTES));
  xs = f32x4.replace_lane(xs, 1, load<f32>(xb + <usize>(j + 1) * Q8A_BYTES) * <f32>q8aSum(xb + <usize>(j + 1) * Q8A_BYTES));
  xs = f32x4.replace_lane(xs, 2, load<f32>(xb + <usize>(j + 2) * Q8A_BYTES) * <f32>q8aSum(xb + <usize>(j + 2) * Q8A_BYTES));
  xs = f32x4.replace_lane(xs, 3, load<f32>(xb + <usize>(j + 3) * Q8A_BYTES) * <f32>q8aSum(xb + <usize>(j + 3) * Q8A_BYTES));
  return madd(f32x4.convert_i32x4_s(mins), xs, offset);
}

/**
 * Q6_K w (210-byte blocks of 256: 128 bytes low nibbles ql, 64 bytes high pairs qh, 16 int8 scales, f16 d last)
 * . Q8A x. Each 6-bit value u (0..63) is built as a byte, 16 at a time, and dotted with x's int8 values as it is;
 * the -32 comes back as 32 times the sum of those 16 x values (Q8A keeps per-16 sums). The 16-value scales multiply
 * in the integer dot (dotU7Scaled), so each Q8A block of x costs one conversion to float.
 */
// @ts-ignore: decorator
@inline export function dotQ6_K(w: usize, x: usize, cols: i32): f32 {
  let sum: f32 = 0;
  for (let b = 0; b < cols / 256; b++) {
    const wb = w + <usize>b * 210, xb = x + <usize>b * 8 * Q8A_BYTES;
    let acc = f32x4.splat(0);
    acc = q6Half(wb, xb, 0, acc);
    acc = q6Half(wb, xb, 1, acc);
    sum += f16(load<u16>(wb + 208)) * hsum(acc);
  }
  return sum;
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

/**
 * acc + the dot of elements 128h..128h+127 of the Q6_K block at wb: bytes ql[64h + l] hold element 128h + l in
 * their low nibble and 128h + 64 + l in their high one, qh[32h + l] the top 2 bits of elements 128h + l + 32t in
 * bits 2t, 2t+1 (l < 32, t < 4); element 128h + 32t + l is group t's value l (q6Values).
 */
// @ts-ignore: decorator
@inline function q6Half(wb: usize, xb: usize, h: i32, acc: v128): v128 {
  const ql = wb + h * 64, qh = wb + 128 + h * 32, sc = wb + 192 + h * 8;
  const low4 = i8x16.splat(0x0f), top2 = i8x16.splat(0x30);
  const x0 = xb + <usize>(4 * h) * Q8A_BYTES;
  const L0a = v128.load(ql), L0b = v128.load(ql + 16), L1a = v128.load(ql + 32), L1b = v128.load(ql + 48);
  const Ha = v128.load(qh), Hb = v128.load(qh + 16);
  acc = q6Block(q6Values(L0a, Ha, 0, low4, top2), q6Values(L0b, Hb, 0, low4, top2), x0, sc, acc);
  acc = q6Block(q6Values(L1a, Ha, 1, low4, top2), q6Values(L1b, Hb, 1, low4, top2), x0 + Q8A_BYTES, sc + 2, acc);
  acc = q6Block(q6Values(L0a, Ha, 2, low4, top2), q6Values(L0b, Hb, 2, low4, top2), x0 + 2 * Q8A_BYTES, sc + 4, acc);
  return q6Block(q6Values(L1a, Ha, 3, low4, top2), q6Values(L1b, Hb, 3, low4, top2), x0 + 3 * Q8A_BYTES, sc + 6, acc);
}

/**
 * acc + dx (sa (ua . xq_a - 32 sum(xq_a)) + sb (ub . xq_b - 32 sum(xq_b))) for one Q8A block xb of x, whose halves a
 * and b meet the 6-bit values ua and ub with the scales at sc and sc + 1, as 4 lanes.
 */
// @ts-ignore: decorator
@inline function q6Block(ua: v128, ub: v128, xb: usize, sc: usize, acc: v128): v128 {
  const sa = <i32>load<i8>(sc), sb = <i32>load<i8>(sc + 1);
  const offset = 8 * (sa * q8aHalfSum(xb, 0) + sb * q8aHalfSum(xb, 16));
  const isum = i32x4.add(dotU7Scaled(ua, v128.load(xb + 8), sa), dotU7Scaled(ub, v128.load(xb + 24), sb));
  return madd(f32x4.convert_i32x4_s(i32x4.sub(isum, i32x4.splat(offset))), v128.load32_splat(xb), acc);
}

/**
 * Two f16 rows w0, w1 . f32 x (times 2^72, as in dotF16), to out0 and out1: each x load serves both rows. Two
 * accumulators a row, 8 columns a step: more would not fit the 16 vector registers.
 */
// @ts-ignore: decorator
@inline export function dotF16Rows(out0: usize, out1: usize, w0: usize, w1: usize, x: usize, cols: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
  let c = 0;
  for (; c + 8 <= cols; c += 8) {
    const xc = x + <usize>c * 4, x0 = v128.load(xc), x1 = v128.load(xc + 16);
    const g = v128.load(w0 + <usize>c * 2), h = v128.load(w1 + <usize>c * 2);
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
}
