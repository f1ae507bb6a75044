// Prefill: out (m, n) = x (m, k) w^T for w (n, k), writing columns [rowStart, rowEnd) of out (rows of w).
// Weight rows are the outer loop so each stays in cache while every x row passes over it.
import { dotBF16, dotF16, dotQ4_0, dotQ4_K, dotQ6_K, dotQ8_0 } from './dot';
import { hsum } from './simd';
import { Q8A_BYTES } from './q8a';

/**
 * f32: 2 x rows by 4 w rows at a time, 8 accumulators, each x and w vector loaded once per tile (V8 gives WASM 16
 * xmm registers, so a bigger tile spills).
 */
export function matmulF32(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  const kb = <usize>k * 4;
  let j = rowStart;
  for (; j + 4 <= rowEnd; j += 4) {
    const w0 = w + <usize>j * kb, w1 = w0 + kb, w2 = w1 + kb, w3 = w2 + kb;
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const x0 = x + <usize>i * kb, x1 = x0 + kb;
      let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
      let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
      let c: usize = 0;
      for (; c + 16 <= kb; c += 16) {
        const u = v128.load(x0 + c), v = v128.load(x1 + c);
        const b0 = v128.load(w0 + c), b1 = v128.load(w1 + c), b2 = v128.load(w2 + c), b3 = v128.load(w3 + c);
        a00 = f32x4.add(a00, f32x4.mul(u, b0)); a01 = f32x4.add(a01, f32x4.mul(u, b1));
        a02 = f32x4.add(a02, f32x4.mul(u, b2)); a03 = f32x4.add(a03, f32x4.mul(u, b3));
        a10 = f32x4.add(a10, f32x4.mul(v, b0)); a11 = f32x4.add(a11, f32x4.mul(v, b1));
        a12 = f32x4.add(a12, f32x4.mul(v, b2)); a13 = f32x4.add(a13, f32x4.mul(v, b3));
      }
      const o0 = out + (<usize>i * <usize>n + <usize>j) * 4, o1 = o0 + <usize>n * 4;
      store<f32>(o0, hsum(a00) + tail(x0, w0, c, kb)); store<f32>(o0 + 4, hsum(a01) + tail(x0, w1, c, kb));
      store<f32>(o0 + 8, hsum(a02) + tail(x0, w2, c, kb)); store<f32>(o0 + 12, hsum(a03) + tail(x0, w3, c, kb));
      store<f32>(o1, hsum(a10) + tail(x1, w0, c, kb)); store<f32>(o1 + 4, hsum(a11) + tail(x1, w1, c, kb));
      store<f32>(o1 + 8, hsum(a12) + tail(x1, w2, c, kb)); store<f32>(o1 + 12, hsum(a13) + tail(x1, w3, c, kb));
    }
    for (; i < m; i++) for (let r = 0; r < 4; r++) storeDot(out, x, w, i, j + r, k, n);
  }
  for (; j < rowEnd; j++) for (let i = 0; i < m; i++) storeDot(out, x, w, i, j, k, n);
}

/** The scalar remainder of a dot product from byte offset c to kb. */
// @ts-ignore: decorator
@inline function tail(x: usize, w: usize, c: usize, kb: usize): f32 {
  let s: f32 = 0;
  for (; c < kb; c += 4) s += load<f32>(x + c) * load<f32>(w + c);
  return s;
}

function storeDot(out: usize, x: usize, w: usize, i: i32, j: i32, k: i32, n: i32): void {
  const kb = <usize>k * 4;
  let acc = f32x4.splat(0);
  let c: usize = 0;
  for (; c + 16 <= kb; c += 16) acc = f32x4.add(acc, f32x4.mul(v128.load(x + <usize>i * kb + c), v128.load(w + <usize>j * kb + c)));
  store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, hsum(acc) + tail(x + <usize>i * kb, w + <usize>j * kb, c, kb));
}

export function matmulF16(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  for (let j = rowStart; j < rowEnd; j++) {
    for (let i = 0; i < m; i++) store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, dotF16(w + <usize>j * <usize>k * 2, x + <usize>i * <usize>k * 4, k));
  }
}

export function matmulBF16(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  for (let j = rowStart; j < rowEnd; j++) {
    for (let i = 0; i < m; i++) store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, dotBF16(w + <usize>j * <usize>k * 2, x + <usize>i * <usize>k * 4, k));
  }
}

// The block types: x is m rows of Q8A (k / 32 blocks each).

export function matmulQ8_0(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  const wb = <usize>(k / 32) * 34, xb = <usize>(k / 32) * Q8A_BYTES;
  for (let j = rowStart; j < rowEnd; j++) for (let i = 0; i < m; i++) store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, dotQ8_0(w + <usize>j * wb, x + <usize>i * xb, k));
}

export function matmulQ4_0(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  const wb = <usize>(k / 32) * 18, xb = <usize>(k / 32) * Q8A_BYTES;
  for (let j = rowStart; j < rowEnd; j++) for (let i = 0; i < m; i++) store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, dotQ4_0(w + <usize>j * wb, x + <usize>i * xb, k));
}

export function matmulQ4_K(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  const wb = <usize>(k / 256) * 144, xb = <usize>(k / 32) * Q8A_BYTES;
  for (let j = rowStart; j < rowEnd; j++) for (let i = 0; i < m; i++) store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, dotQ4_K(w + <usize>j * wb, x + <usize>i * xb, k));
}

export function matmulQ6_K(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  const wb = <usize>(k / 256) * 210, xb = <usize>(k / 32) * Q8A_BYTES;
  for (let j = rowStart; j < rowEnd; j++) for (let i = 0; i < m; i++) store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, dotQ6_K(w + <usize>j * wb, x + <usize>i * xb, k));
}
