// Prefill: out (m, n) = x (m, k) w^T for w (n, k), writing columns [rowStart, rowEnd) of out (rows of w).
// Weight rows are the outer loop so each stays in cache while every x row passes over it; x is f32.
import { dequantizeRow, rowBytes } from './dequantize';
import { hsum, madd } from './simd';

/**
 * f32: 2 x rows by 4 w rows at a time, 8 accumulators, each x and w vector loaded once per tile (V8 gives WASM 16
 * xmm registers, so a bigger tile spills).
 */
export function matmulF32(out: usize, x: usize, w: usize, m: i32, k: i32, n: i32, rowStart: i32, rowEnd: i32): void {
  const kb = <usize>k * 4;
  let j = rowStart;
  for (; j + 4 <= rowEnd; j += 4) tile4(out, x, w + <usize>j * kb, m, k, n, j);
  for (; j < rowEnd; j++) for (let i = 0; i < m; i++) storeDot(out, x, w + <usize>j * kb, i, j, k, n);
}

/**
 * Prefill for the block and half types: 4 weight rows at a time are decoded to f32 in this thread's scratch
 * (4 * k floats at scratch + thread * 16k bytes) and multiplied by the f32 tile, sharing the decode among all m
 * rows of x (f32).
 */
export function matmulDecoded(out: usize, x: usize, w: usize, type: i32, m: i32, k: i32, n: i32, scratch: usize, thread: i32, rowStart: i32, rowEnd: i32): void {
  const rb = rowBytes(type, k);
  const kb = <usize>k * 4;
  const rows = scratch + <usize>thread * 4 * kb;
  for (let j = rowStart; j < rowEnd; j += 4) {
    const count = min(4, rowEnd - j);
    for (let r = 0; r < count; r++) dequantizeRow(type, w + <usize>(j + r) * rb, rows + <usize>r * kb, k);
    if (count == 4) tile4(out, x, rows, m, k, n, j);
    else for (let r = 0; r < count; r++) for (let i = 0; i < m; i++) storeDot(out, x, rows + <usize>r * kb, i, j + r, k, n);
  }
}

/** Columns j..j+3 of out = x (m, k) . the 4 consecutive f32 rows at w0, 2 x rows at a time. */
function tile4(out: usize, x: usize, w0: usize, m: i32, k: i32, n: i32, j: i32): void {
  const kb = <usize>k * 4;
  const w1 = w0 + kb, w2 = w1 + kb, w3 = w2 + kb;
  let i = 0;
  for (; i + 2 <= m; i += 2) {
    const x0 = x + <usize>i * kb, x1 = x0 + kb;
    let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
    let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
    let c: usize = 0;
    for (; c + 16 <= kb; c += 16) {
      const u = v128.load(x0 + c), v = v128.load(x1 + c);
      const b0 = v128.load(w0 + c), b1 = v128.load(w1 + c), b2 = v128.load(w2 + c), b3 = v128.load(w3 + c);
      a00 = madd(u, b0, a00); a01 = madd(u, b1, a01);
      a02 = madd(u, b2, a02); a03 = madd(u, b3, a03);
      a10 = madd(v, b0, a10); a11 = madd(v, b1, a11);
      a12 = madd(v, b2, a12); a13 = madd(v, b3, a13);
    }
    const o0 = out + (<usize>i * <usize>n + <usize>j) * 4, o1 = o0 + <usize>n * 4;
    store<f32>(o0, hsum(a00) + tail(x0, w0, c, kb)); store<f32>(o0 + 4, hsum(a01) + tail(x0, w1, c, kb));
    store<f32>(o0 + 8, hsum(a02) + tail(x0, w2, c, kb)); store<f32>(o0 + 12, hsum(a03) + tail(x0, w3, c, kb));
    store<f32>(o1, hsum(a10) + tail(x1, w0, c, kb)); store<f32>(o1 + 4, hsum(a11) + tail(x1, w1, c, kb));
    store<f32>(o1 + 8, hsum(a12) + tail(x1, w2, c, kb)); store<f32>(o1 + 12, hsum(a13) + tail(x1, w3, c, kb));
  }
  for (; i < m; i++) for (let r = 0; r < 4; r++) storeDot(out, x, w0 + <usize>r * kb, i, j + r, k, n);
}

/** The scalar remainder of a dot product from byte offset c to kb. */
// @ts-ignore: decorator
@inline function tail(x: usize, w: usize, c: usize, kb: usize): f32 {
  let s: f32 = 0;
  for (; c < kb; c += 4) s += load<f32>(x + c) * load<f32>(w + c);
  return s;
}

/** out[i, j] = x row i . the f32 weight row at wr. */
function storeDot(out: usize, x: usize, wr: usize, i: i32, j: i32, k: i32, n: i32): void {
  const kb = <usize>k * 4;
  let acc = f32x4.splat(0);
  let c: usize = 0;
  for (; c + 16 <= kb; c += 16) acc = madd(v128.load(x + <usize>i * kb + c), v128.load(wr + c), acc);
  store<f32>(out + (<usize>i * <usize>n + <usize>j) * 4, hsum(acc) + tail(x + <usize>i * kb, wr, c, kb));
}

