// Dot products of one weight row (as stored) with one activation row: f32 x for the float types, Q8A x for the
// block types (see q8a.ts). Shared by the matvec (decode) and matmul (prefill) kernels.
import { dotI8Add, dotU4Pair, dotU7, dotU7Add, f16, F16_REBIAS, f16x8High, f16x8Low, hsum, madd } from './simd';
import { Q8A_BYTES, q8aHalfSum, q8aSum } from './q8a';

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

/** f16 w . f32 x: 8 halves decoded per step (f16x8Low/High), rebiased, multiplied into 4 accumulators. */
// @ts-ignore: decorator
@inline export function dotF16(w: usize, x: usize, cols: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const rebias = f32x4.splat(F16_REBIAS);
  let c = 0;
  for (; c + 16 <= cols; c += 16) {
    const h0 = v128.load(w + <usize>c * 2), h1 = v128.load(w + <usize>c * 2 + 16);
    const xc = x + <usize>c * 4;
    a0 = madd(f32x4.mul(f16x8Low(h0), rebias), v128.load(xc), a0);
    a1 = madd(f32x4.mul(f16x8High(h0), rebias), v128.load(xc + 16), a1);
    a2 = madd(f32x4.mul(f16x8Low(h1), rebias), v128.load(xc + 32), a2);
    a3 = madd(f32x4.mul(f16x8High(h1), rebias), v128.load(xc + 48), a3);
  }
  for (; c + 8 <= cols; c += 8) {
    const h = v128.load(w + <usize>c * 2);
    a0 = madd(f32x4.mul(f16x8Low(h), rebias), v128.load(x + <usize>c * 4), a0);
    a1 = madd(f32x4.mul(f16x8High(h), rebias), v128.load(x + <usize>c * 4 + 16), a1);
  }
  let sum = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; c < cols; c++) sum += f16(load<u16>(w + <usize>c * 2)) * load<f32>(x + <usize>c * 4);
  return sum;
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

/** Q8_0 w (34-byte blocks: f16 d, 32 int8) . Q8A x: per block d_w d_x sum(q_w q_x). */
// @ts-ignore: decorator
@inline export function dotQ8_0(w: usize, x: usize, cols: i32): f32 {
  let acc = f32x4.splat(0);
  for (let b = 0; b < cols / 32; b++) {
    const wb = w + <usize>b * 34;
    const xb = x + <usize>b * Q8A_BYTES;
    const isum = dotI8Add(v128.load(wb + 18), v128.load(xb + 24), dotI8Add(v128.load(wb + 2), v128.load(xb + 8), i32x4.splat(0)));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(f16(load<u16>(wb)) * load<f32>(xb))));
  }
  return hsum(acc);
}

/** Q4_0 w (18-byte blocks: f16 d, 16 bytes of nibbles; low nibbles are elements 0..15) . Q8A x. */
// @ts-ignore: decorator
@inline export function dotQ4_0(w: usize, x: usize, cols: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let offset0: f32 = 0, offset1: f32 = 0;
  const blocks = cols / 32;
  let b = 0;
  for (; b + 2 <= blocks; b += 2) {
    const wb = w + <usize>b * 18;
    const xb = x + <usize>b * Q8A_BYTES;
    const s0 = f16(load<u16>(wb)) * load<f32>(xb);
    const s1 = f16(load<u16>(wb + 18)) * load<f32>(xb + Q8A_BYTES);
    acc0 = madd(f32x4.convert_i32x4_s(q4Dot(v128.load(wb + 2), xb)), f32x4.splat(s0), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(q4Dot(v128.load(wb + 20), xb + Q8A_BYTES)), f32x4.splat(s1), acc1);
    offset0 += s0 * <f32>q8aSum(xb);
    offset1 += s1 * <f32>q8aSum(xb + Q8A_BYTES);
  }
  for (; b < blocks; b++) {
    const wb = w + <usize>b * 18;
    const xb = x + <usize>b * Q8A_BYTES;
    const s0 = f16(load<u16>(wb)) * load<f32>(xb);
    acc0 = madd(f32x4.convert_i32x4_s(q4Dot(v128.load(wb + 2), xb)), f32x4.splat(s0), acc0);
    offset0 += s0 * <f32>q8aSum(xb);
  }
  return hsum(f32x4.add(acc0, acc1)) - 8 * (offset0 + offset1);
}

/**
 * sum(n xq) over a block: the 16 bytes q hold the 32 unsigned nibbles n (low nibbles are elements 0..15), xb is
 * the block's Q8A. With sum((n - 8) xq) = sum(n xq) - 8 sum(xq), the dot takes the nibbles as they are.
 */
// @ts-ignore: decorator
@inline function q4Dot(q: v128, xb: usize): v128 {
  const mask = i8x16.splat(0x0f);
  return dotU4Pair(v128.and(q, mask), v128.load(xb + 8), v128.and(i16x8.shr_u(q, 4), mask), v128.load(xb + 24));
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
 * elements is y = d sc_j q - dmin m_j, so its dot is d sc_j dx sum(q xq) - dmin m_j dx sum(xq).
 */
// @ts-ignore: decorator
@inline export function dotQ4_K(w: usize, x: usize, cols: i32): f32 {
  let sum: f32 = 0;
  const mask = i8x16.splat(0x0f);
  for (let b = 0; b < cols / 256; b++) {
    const wb = w + <usize>b * 144;
    const d = f16(load<u16>(wb));
    const dmin = f16(load<u16>(wb + 2));
    let acc = f32x4.splat(0);
    let offset: f32 = 0;
    for (let c = 0; c < 4; c++) {
      const qs = wb + 16 + c * 32;
      for (let half = 0; half < 2; half++) {
        const j = 2 * c + half;
        const xb = x + (<usize>(b * 8 + j)) * Q8A_BYTES;
        const q0 = v128.load(qs), q1 = v128.load(qs + 16);
        const n0 = half == 0 ? v128.and(q0, mask) : v128.and(i16x8.shr_u(q0, 4), mask);
        const n1 = half == 0 ? v128.and(q1, mask) : v128.and(i16x8.shr_u(q1, 4), mask);
        const isum = dotU4Pair(n0, v128.load(xb + 8), n1, v128.load(xb + 24));
        const dx = load<f32>(xb);
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(d * <f32>q4kScale(wb + 4, j) * dx)));
        offset += dmin * <f32>q4kMin(wb + 4, j) * dx * <f32>q8aSum(xb);
      }
    }
    sum += hsum(acc) - offset;
  }
  return sum;
}

/**
 * Q6_K w (210-byte blocks of 256: 128 bytes low nibbles ql, 64 bytes high pairs qh, 16 int8 scales, f16 d last)
 * . Q8A x. Each 6-bit value u (0..63) is built as a byte, 16 at a time, and dotted with x's int8 values as it is;
 * the -32 comes back as 32 times the sum of those 16 x values (Q8A keeps per-16 sums).
 */
// @ts-ignore: decorator
@inline export function dotQ6_K(w: usize, x: usize, cols: i32): f32 {
  let sum: f32 = 0;
  const mask4 = i8x16.splat(0x0f), mask2 = i8x16.splat(0x03);
  for (let b = 0; b < cols / 256; b++) {
    const wb = w + <usize>b * 210;
    const d = f16(load<u16>(wb + 208));
    let acc = f32x4.splat(0);
    let offset: f32 = 0;
    for (let h = 0; h < 2; h++) {
      const ql = wb + h * 64, qh = wb + 128 + h * 32, sc = wb + 192 + h * 8;
      for (let l = 0; l < 32; l += 16) {
        const L0 = v128.load(ql + l), L1 = v128.load(ql + l + 32), H = v128.load(qh + l);
        const s = l / 16;
        const u0 = v128.or(v128.and(L0, mask4), i8x16.shl(v128.and(H, mask2), 4));
        const u1 = v128.or(v128.and(L1, mask4), i8x16.shl(v128.and(i8x16.shr_u(H, 2), mask2), 4));
        const u2 = v128.or(i8x16.shr_u(L0, 4), i8x16.shl(v128.and(i8x16.shr_u(H, 4), mask2), 4));
        const u3 = v128.or(i8x16.shr_u(L1, 4), i8x16.shl(i8x16.shr_u(H, 6), 4));
        const e = b * 256 + h * 128 + l; // element of u0's first value; u_k's is e + 32k
        acc = q6Part(u0, x, e, load<i8>(sc + s), acc);
        acc = q6Part(u1, x, e + 32, load<i8>(sc + s + 2), acc);
        acc = q6Part(u2, x, e + 64, load<i8>(sc + s + 4), acc);
        acc = q6Part(u3, x, e + 96, load<i8>(sc + s + 6), acc);
        offset += q6Offset(x, e, load<i8>(sc + s)) + q6Offset(x, e + 32, load<i8>(sc + s + 2))
          + q6Offset(x, e + 64, load<i8>(sc + s + 4)) + q6Offset(x, e + 96, load<i8>(sc + s + 6));
      }
    }
    sum += d * (hsum(acc) - 32 * offset);
  }
  return sum;
}

/** acc + scale * dx * (16 unsigned 6-bit values u . the 16 Q8A values of x from element e), as 4 lanes. */
// @ts-ignore: decorator
@inline function q6Part(u: v128, x: usize, e: i32, scale: i8, acc: v128): v128 {
  const xb = x + (<usize>(e >> 5)) * Q8A_BYTES;
  const isum = dotU7(u, v128.load(xb + 8 + (e & 31)));
  return madd(f32x4.convert_i32x4_s(isum), f32x4.splat(<f32>scale * load<f32>(xb)), acc);
}

/** scale * dx * (the sum of the 16 Q8A values of x from element e): what the -32 of those 16 values takes off. */
// @ts-ignore: decorator
@inline function q6Offset(x: usize, e: i32, scale: i8): f32 {
  const xb = x + (<usize>(e >> 5)) * Q8A_BYTES;
  return <f32>scale * load<f32>(xb) * <f32>q8aHalfSum(xb, e & 31);
}
