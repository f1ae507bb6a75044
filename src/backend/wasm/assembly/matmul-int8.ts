// Prefill on the integer dot: out (m, n) = x (m, k) w^T for Q4_0, Q4_K and Q8_0 weights w (n, k), as stored, and x
// quantized to Q8A4 (Q4_0, Q4_K) or Q8A4S (Q8_0; q8a.ts), writing columns [rowStart, rowEnd) of out (rows of w).
//
// Q8A4 interleaves 4 rows of x in 4-byte groups, so one 16-byte x vector holds elements 4t..4t+3 of rows 0..3. The
// 4 weight bytes of those elements, broadcast to all lanes, meet it in one i16 pair-dot (x64 pmaddubsw): i32 lane i
// ends up with row i's dot. Each lane is one output, so a block's scales multiply whole vectors, nothing is summed
// across lanes, and the weights are used as the file stores them. 128-bit lanes cap what this gains over the f32
// tile: the integer dot does 16 multiply-adds per instruction, the f32 multiply-add 4, but it takes adds, widening
// and per-block scaling around it.
import { q4kMin, q4kScale } from './dot';
import { dotI8SignedBy, f16, madd, onesI16, pairDot } from './simd';
import { Q8A4_BYTES, Q8A4S_BYTES } from './q8a';

/**
 * Q4_0 (18-byte blocks: f16 d, 16 bytes of nibbles, low nibbles are elements 0..15), x in Q8A4: block dot =
 * d_w d_x (sum(n xq) - 8 sum(xq)), the nibbles n unsigned as they are. Four weight rows share each x load. Each
 * row is first unpacked into this thread's scratch (4 rows of k / 32 blocks of 36 bytes, at scratch + thread * 9 k
 * / 2 bytes): its scale as f32, then the low nibbles and the high nibbles of its 16 bytes as 32 bytes, so the tile
 * splits no nibbles however many groups of x rows it meets.
 */
export function matmulQ4_0(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, scratch: usize, thread: i32, rowStart: i32, rowEnd: i32): void {
  const blocks = k / 32;
  const rb = <usize>blocks * 18, ub = <usize>blocks * 36;
  const unpacked = scratch + <usize>thread * 4 * ub;
  for (let j = rowStart; j < rowEnd; j += 4) {
    const count = min(4, rowEnd - j);
    const w0 = w + <usize>j * rb;
    for (let r = 0; r < count; r++) unpackQ4Row(w0 + <usize>r * rb, blocks, unpacked + <usize>r * ub);
    for (let g = 0; g < (m + 3) >> 2; g++) {
      const xg = x + <usize>g * blocks * Q8A4_BYTES;
      if (count == 4) q4Tile4(out, xg, unpacked, ub, blocks, m, n, g, j);
      else for (let r = 0; r < count; r++) {
        let acc = f32x4.splat(0);
        for (let b = 0; b < blocks; b++) acc = q4Block(unpacked + <usize>r * ub + <usize>b * 36, xg + <usize>b * Q8A4_BYTES, acc);
        storeLanes(out, acc, m, n, g, j + r);
      }
    }
  }
}

/** Per block of a Q4_0 row at w: d as f32, then the 16 low and the 16 high nibbles as bytes (36 bytes at dst). */
function unpackQ4Row(w: usize, blocks: i32, dst: usize): void {
  const mask = i8x16.splat(0x0f);
  for (let b = 0; b < blocks; b++) {
    const wb = w + <usize>b * 18, o = dst + <usize>b * 36, q = v128.load(wb + 2);
    store<f32>(o, f16(load<u16>(wb)));
    v128.store(o + 4, v128.and(q, mask));
    v128.store(o + 20, v128.and(i16x8.shr_u(q, 4), mask));
  }
}

/** Columns j..j+3 of out for the 4 x rows of group g: 4 unpacked weight rows (stride ub) against the group's blocks. */
function q4Tile4(out: usize, xg: usize, u0: usize, ub: usize, blocks: i32, m: i32, n: i32, g: i32, j: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const xb = xg + <usize>b * Q8A4_BYTES;
    const ubk = u0 + <usize>b * 36;
    let p0 = ubk, p1 = p0 + ub, p2 = p1 + ub, p3 = p2 + ub;
    let s0 = i16x8.splat(0), s1 = i16x8.splat(0), s2 = i16x8.splat(0), s3 = i16x8.splat(0);
    // Pointers step through the block so that every load is one instruction (computed addresses cost a third).
    for (let xp = xb; xp < xb + 64; xp += 16) {
      const low = v128.load(xp, 32), high = v128.load(xp, 96);
      s0 = i16x8.add(s0, i16x8.add(pairDot(v128.load32_splat(p0, 4), low), pairDot(v128.load32_splat(p0, 20), high)));
      s1 = i16x8.add(s1, i16x8.add(pairDot(v128.load32_splat(p1, 4), low), pairDot(v128.load32_splat(p1, 20), high)));
      s2 = i16x8.add(s2, i16x8.add(pairDot(v128.load32_splat(p2, 4), low), pairDot(v128.load32_splat(p2, 20), high)));
      s3 = i16x8.add(s3, i16x8.add(pairDot(v128.load32_splat(p3, 4), low), pairDot(v128.load32_splat(p3, 20), high)));
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    }
    const dx = v128.load(xb), offset = i32x4.shl(v128.load(xb + 16), 3);
    a0 = q4Scale(s0, offset, dx, ubk, a0);
    a1 = q4Scale(s1, offset, dx, ubk + ub, a1);
    a2 = q4Scale(s2, offset, dx, ubk + 2 * ub, a2);
    a3 = q4Scale(s3, offset, dx, ubk + 3 * ub, a3);
  }
  storeLanes(out, a0, m, n, g, j);
  storeLanes(out, a1, m, n, g, j + 1);
  storeLanes(out, a2, m, n, g, j + 2);
  storeLanes(out, a3, m, n, g, j + 3);
}

/** acc + one unpacked Q4_0 block (at ub) against one Q8A4 block (at xb), 4 x rows in the lanes. */
// @ts-ignore: decorator
@inline function q4Block(ub: usize, xb: usize, acc: v128): v128 {
  let s = i16x8.splat(0);
  for (let t = 0; t < 4; t++) {
    s = i16x8.add(s, i16x8.add(pairDot(v128.load32_splat(ub + 4 + t * 4), v128.load(xb + 32 + t * 16)), pairDot(v128.load32_splat(ub + 20 + t * 4), v128.load(xb + 96 + t * 16))));
  }
  return q4Scale(s, i32x4.shl(v128.load(xb + 16), 3), v128.load(xb), ub, acc);
}

/**
 * acc + d_w dx (sum(n xq) - 8 sum(xq)) for the i16 pair sums s of one block (8 of them per lane: |s| <= 8 * 2 * 15
 * * 128 < 2^15), offset = 8 sum(xq) and dx per lane, d_w as f32 at d.
 */
// @ts-ignore: decorator
@inline function q4Scale(s: v128, offset: v128, dx: v128, d: usize, acc: v128): v128 {
  const isum = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(s), offset);
  return madd(f32x4.convert_i32x4_s(isum), f32x4.mul(dx, v128.load32_splat(d)), acc);
}

/**
 * Q4_K (144-byte blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles), x in
 * Q8A4. Sub-block j of 32 is y = d sc_j n - dmin m_j, n its unsigned nibbles (low ones of bytes 32(j/2)..+31 for
 * even j, high ones for odd j), so its dot is d sc_j dx sum(n xq) - dmin m_j dx sum(xq): Q4_0's pair dots, then
 * per-sub-block scales. Per weight row, d sc_j and dmin m_j of every sub-block are prepared first as f32 pairs in
 * this thread's scratch (4 rows of k / 32 pairs, at scratch + thread * k bytes).
 */
export function matmulQ4_K(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, scratch: usize, thread: i32, rowStart: i32, rowEnd: i32): void {
  const blocks = k / 32; // sub-blocks
  const rb = <usize>(k / 256) * 144, pb = <usize>blocks * 8;
  const prep = scratch + <usize>thread * 4 * pb;
  for (let j = rowStart; j < rowEnd; j += 4) {
    const count = min(4, rowEnd - j);
    const w0 = w + <usize>j * rb;
    for (let r = 0; r < count; r++) prepareQ4KRow(w0 + <usize>r * rb, k / 256, prep + <usize>r * pb);
    for (let g = 0; g < (m + 3) >> 2; g++) {
      const xg = x + <usize>g * blocks * Q8A4_BYTES;
      if (count == 4) q4kTile4(out, xg, w0, rb, prep, pb, blocks, m, n, g, j);
      else for (let r = 0; r < count; r++) {
        let acc = f32x4.splat(0);
        for (let b = 0; b < blocks; b++) acc = q4kSubBlock(w0 + <usize>r * rb, b, xg + <usize>b * Q8A4_BYTES, prep + <usize>r * pb + <usize>b * 8, acc);
        storeLanes(out, acc, m, n, g, j + r);
      }
    }
  }
}

/**
 * Columns j..j+3 of out for group g: 4 weight rows (stride rb) share each x load. Sub-blocks go in pairs (2c, 2c+1),
 * the low and high nibbles of the same 32 bytes, so each weight load serves both.
 */
function q4kTile4(out: usize, xg: usize, w0: usize, rb: usize, prep: usize, pb: usize, blocks: i32, m: i32, n: i32, g: i32, j: i32): void {
  const mask = i8x16.splat(0x0f);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let b = 0; b < blocks; b += 2) {
    const xl = xg + <usize>b * Q8A4_BYTES, xh = xl + Q8A4_BYTES;
    const qs = w0 + <usize>(b >> 3) * 144 + 16 + <usize>((b & 7) >> 1) * 32;
    let l0 = i16x8.splat(0), h0 = i16x8.splat(0), l1 = i16x8.splat(0), h1 = i16x8.splat(0);
    let l2 = i16x8.splat(0), h2 = i16x8.splat(0), l3 = i16x8.splat(0), h3 = i16x8.splat(0);
    // Pointers step through the sub-blocks so that every load is one instruction (computed addresses cost a third).
    let p0 = qs, p1 = p0 + rb, p2 = p1 + rb, p3 = p2 + rb;
    for (let xp = xl; xp < xl + 128; xp += 16) {
      const low = v128.load(xp, 32), high = v128.load(xp, Q8A4_BYTES + 32);
      const q0 = v128.load32_splat(p0), q1 = v128.load32_splat(p1);
      l0 = i16x8.add(l0, pairDot(v128.and(q0, mask), low)); h0 = i16x8.add(h0, pairDot(v128.and(i16x8.shr_u(q0, 4), mask), high));
      l1 = i16x8.add(l1, pairDot(v128.and(q1, mask), low)); h1 = i16x8.add(h1, pairDot(v128.and(i16x8.shr_u(q1, 4), mask), high));
      const q2 = v128.load32_splat(p2), q3 = v128.load32_splat(p3);
      l2 = i16x8.add(l2, pairDot(v128.and(q2, mask), low)); h2 = i16x8.add(h2, pairDot(v128.and(i16x8.shr_u(q2, 4), mask), high));
      l3 = i16x8.add(l3, pairDot(v128.and(q3, mask), low)); h3 = i16x8.add(h3, pairDot(v128.and(i16x8.shr_u(q3, 4), mask), high));
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    }
    const p = prep + <usize>b * 8;
    a0 = q4kApply2(l0, h0, xl, xh, p, a0);
    a1 = q4kApply2(l1, h1, xl, xh, p + pb, a1);
    a2 = q4kApply2(l2, h2, xl, xh, p + 2 * pb, a2);
    a3 = q4kApply2(l3, h3, xl, xh, p + 3 * pb, a3);
  }
  storeLanes(out, a0, m, n, g, j);
  storeLanes(out, a1, m, n, g, j + 1);
  storeLanes(out, a2, m, n, g, j + 2);
  storeLanes(out, a3, m, n, g, j + 3);
}

/** acc + two consecutive sub-blocks' (prepared at p, p + 8) i16 pair sums l and h against the Q8A4 blocks xl, xh. */
// @ts-ignore: decorator
@inline function q4kApply2(l: v128, h: v128, xl: usize, xh: usize, p: usize, acc: v128): v128 {
  return q4kApply(h, xh, p + 8, q4kApply(l, xl, p, acc));
}

/** acc + dx (d sc sum(n xq) - dmin m sum(xq)) for one sub-block's i16 pair sums s (8 per lane: < 2^15). */
// @ts-ignore: decorator
@inline function q4kApply(s: v128, xb: usize, p: usize, acc: v128): v128 {
  const dot = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extadd_pairwise_i16x8_s(s)), v128.load32_splat(p));
  const offset = f32x4.mul(f32x4.convert_i32x4_s(v128.load(xb + 16)), v128.load32_splat(p + 4));
  return madd(f32x4.sub(dot, offset), v128.load(xb), acc);
}

/** d sc_j and dmin m_j of every sub-block of a Q4_K row, as f32 pairs at dst. */
function prepareQ4KRow(w: usize, superBlocks: i32, dst: usize): void {
  for (let b = 0; b < superBlocks; b++) {
    const wb = w + <usize>b * 144;
    const d = f16(load<u16>(wb)), dmin = f16(load<u16>(wb + 2));
    for (let j = 0; j < 8; j++) {
      store<f32>(dst + <usize>(b * 8 + j) * 8, d * <f32>q4kScale(wb + 4, j));
      store<f32>(dst + <usize>(b * 8 + j) * 8 + 4, dmin * <f32>q4kMin(wb + 4, j));
    }
  }
}

/** acc + sub-block b (of 32) of the Q4_K row at w against one Q8A4 block (at xb), its scale and min prepared at p. */
// @ts-ignore: decorator
@inline function q4kSubBlock(w: usize, b: i32, xb: usize, p: usize, acc: v128): v128 {
  const mask = i8x16.splat(0x0f);
  const qs = w + <usize>(b >> 3) * 144 + 16 + <usize>((b & 7) >> 1) * 32, high = (b & 1) == 1;
  let s = i16x8.splat(0);
  for (let t = 0; t < 8; t++) {
    const q = v128.load32_splat(qs + t * 4);
    s = i16x8.add(s, pairDot(high ? v128.and(i16x8.shr_u(q, 4), mask) : v128.and(q, mask), v128.load(xb + 32 + t * 16)));
  }
  return q4kApply(s, xb, p, acc);
}

/**
 * Q8_0 (34-byte blocks: f16 d, 32 int8), x in Q8A4S: magnitudes |xq| and sign masks sg, as for the decode kernel
 * (Q8S, q8a.ts), so sum(w xq) = sum(|xq| (w xor sg)) + c: one pair dot per 16 products, exact for every w. Its i16
 * pair sums can reach 2 * 127 * 128, so each is widened to i32 at once. Per weight row, each block's d is prepared
 * first as f32 in this thread's scratch (4 rows of k / 32 f32, at scratch + thread * k / 2 bytes).
 */
export function matmulQ8_0(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, scratch: usize, thread: i32, rowStart: i32, rowEnd: i32): void {
  const blocks = k / 32;
  const rb = <usize>blocks * 34, pb = <usize>blocks * 4;
  const scales = scratch + <usize>thread * 4 * pb;
  const ones = onesI16(rowEnd);
  for (let j = rowStart; j < rowEnd; j += 4) {
    const count = min(4, rowEnd - j);
    const w0 = w + <usize>j * rb;
    for (let r = 0; r < count; r++) {
      for (let b = 0; b < blocks; b++) store<f32>(scales + <usize>r * pb + <usize>b * 4, f16(load<u16>(w0 + <usize>r * rb + <usize>b * 34)));
    }
    for (let g = 0; g < (m + 3) >> 2; g++) {
      const xg = x + <usize>g * blocks * Q8A4S_BYTES;
      if (count == 4) q8Tile4(out, xg, w0, rb, scales, pb, blocks, m, n, g, j, ones);
      else for (let r = 0; r < count; r++) {
        let acc = f32x4.splat(0);
        for (let b = 0; b < blocks; b++) {
          const xb = xg + <usize>b * Q8A4S_BYTES, wb = w0 + <usize>r * rb + <usize>b * 34 + 2;
          let s = i32x4.splat(0);
          for (let t = 0; t < 8; t++) s = signedDot(v128.load32_splat(wb + t * 4), v128.load(xb + 160 + t * 16), v128.load(xb + 32 + t * 16), s, ones);
          acc = q8Scale(s, xb, scales + <usize>r * pb + <usize>b * 4, acc);
        }
        storeLanes(out, acc, m, n, g, j + r);
      }
    }
  }
}

/** Columns j..j+3 of out for group g: 4 weight rows (stride rb) share each x load. */
function q8Tile4(out: usize, xg: usize, w0: usize, rb: usize, scales: usize, pb: usize, blocks: i32, m: i32, n: i32, g: i32, j: i32, ones: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const xb = xg + <usize>b * Q8A4S_BYTES;
    let p0 = w0 + <usize>b * 34 + 2, p1 = p0 + rb, p2 = p1 + rb, p3 = p2 + rb;
    let s0 = i32x4.splat(0), s1 = i32x4.splat(0), s2 = i32x4.splat(0), s3 = i32x4.splat(0);
    // Pointers step through the block so that every load is one instruction (computed addresses cost a third).
    for (let xp = xb; xp < xb + 128; xp += 16) {
      const magnitude = v128.load(xp, 32), sg = v128.load(xp, 160);
      s0 = signedDot(v128.load32_splat(p0), sg, magnitude, s0, ones);
      s1 = signedDot(v128.load32_splat(p1), sg, magnitude, s1, ones);
      s2 = signedDot(v128.load32_splat(p2), sg, magnitude, s2, ones);
      s3 = signedDot(v128.load32_splat(p3), sg, magnitude, s3, ones);
      p0 += 4; p1 += 4; p2 += 4; p3 += 4;
    }
    const p = scales + <usize>b * 4;
    a0 = q8Scale(s0, xb, p, a0);
    a1 = q8Scale(s1, xb, p + pb, a1);
    a2 = q8Scale(s2, xb, p + 2 * pb, a2);
    a3 = q8Scale(s3, xb, p + 3 * pb, a3);
  }
  storeLanes(out, a0, m, n, g, j);
  storeLanes(out, a1, m, n, g, j + 1);
  storeLanes(out, a2, m, n, g, j + 2);
  storeLanes(out, a3, m, n, g, j + 3);
}

/** acc + d_w dx (s + c) for one block's i32 sums s against the Q8A4S block at xb (dx and c per lane), d_w at p. */
// @ts-ignore: decorator
@inline function q8Scale(s: v128, xb: usize, p: usize, acc: v128): v128 {
  return madd(f32x4.convert_i32x4_s(i32x4.add(s, v128.load(xb + 16))), f32x4.mul(v128.load(xb), v128.load32_splat(p)), acc);
}

/**
 * acc + the i32 sums of |xq| (w xor sg) over bytes 4l..4l+3 in lane l (one x row per lane): simd.ts's
 * dotI8SignedBy in the relaxed build (pmaddubsw then pmaddwd keep those bytes together), else exactly by pairDot.
 */
// @ts-ignore: decorator
@inline function signedDot(w: v128, sg: v128, magnitude: v128, acc: v128, ones: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return dotI8SignedBy(w, sg, magnitude, acc, ones);
  return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(pairDot(magnitude, v128.xor(w, sg))));
}

/** out[4g + i, j] = lane i of v, for the rows of group g that exist (m may not be a multiple of 4). */
// @ts-ignore: decorator
@inline function storeLanes(out: usize, v: v128, m: i32, n: i32, g: i32, j: i32): void {
  const rows = min(4, m - 4 * g);
  const o = out + (<usize>(4 * g) * <usize>n + <usize>j) * 4, stride = <usize>n * 4;
  store<f32>(o, f32x4.extract_lane(v, 0));
  if (rows > 1) store<f32>(o + stride, f32x4.extract_lane(v, 1));
  if (rows > 2) store<f32>(o + 2 * stride, f32x4.extract_lane(v, 2));
  if (rows > 3) store<f32>(o + 3 * stride, f32x4.extract_lane(v, 3));
}
