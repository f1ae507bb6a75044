// Decode: out[r] = w[r, :] . x for rows r in [rowStart, rowEnd) of w (rows, cols), stored as the file stores it.
// x is f32 for f32 and bf16, f32 times 2^72 for f16 (see dotF16Rows), and quantized for the block types (q8a.ts): Q8S
// for Q8_0, Q8G for Q4_0, Q8K for Q4_K and Q6_K.
//
// Some kernels take two rows at once, loading x once for both. The block-type and f16 kernels walk their rows as
// STREAMS runs of consecutive rows in turn, not in order: several streams running on through their runs are what
// the prefetchers follow best. Rows r and r + 1 together were a third slower out of cache on an AMD EPYC; on an
// Intel Xeon, from memory at 1 thread, 4 runs against 2 took Q4_0 from 6.6 to 7.4 GB/s, Q8_0 from 8.5 to 9.5 and
// f16 from 8.8 to 9.1, and Q4_K (one row at a time) from 5.2 to 6.1.
import { dotBF16, dotF16Rows, dotF32, dotQ4_0Rows, dotQ4_K, dotQ6_K, dotQ8_0Rows } from './dot';

/** Runs of weight rows the kernels walk at once (see above). */
const STREAMS = 4;

/** The first row of pair k: rows [rowStart, rowStart + STREAMS q) are STREAMS runs of q, pair k the next rows of two. */
// @ts-ignore: decorator
@inline function pairRow(k: i32, rowStart: i32, q: i32): i32 {
  return rowStart + (k % (STREAMS / 2)) * 2 * q + k / (STREAMS / 2);
}

/** Row k of the walk of the one-row kernels: rows [rowStart, rowStart + STREAMS q) as STREAMS runs of q, in turn. */
// @ts-ignore: decorator
@inline function streamRow(k: i32, rowStart: i32, q: i32): i32 {
  return rowStart + (k % STREAMS) * q + k / STREAMS;
}

export function matvecF32(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotF32(w + <usize>r * <usize>cols * 4, x, cols));
}

export function matvecF16(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>cols * 2, q = (rowEnd - rowStart) / STREAMS;
  for (let k = 0; k < q * (STREAMS / 2); k++) {
    const r0 = pairRow(k, rowStart, q), r1 = r0 + q;
    dotF16Rows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
  for (let r = rowStart + STREAMS * q; r < rowEnd; r += 2) {
    const r1 = min(r + 1, rowEnd - 1);
    dotF16Rows(out + <usize>r * 4, out + <usize>r1 * 4, w + <usize>r * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecBF16(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotBF16(w + <usize>r * <usize>cols * 2, x, cols));
}

export function matvecQ8_0(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 32) * 34, q = (rowEnd - rowStart) / STREAMS;
  for (let k = 0; k < q * (STREAMS / 2); k++) {
    const r0 = pairRow(k, rowStart, q), r1 = r0 + q;
    dotQ8_0Rows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
  for (let r = rowStart + STREAMS * q; r < rowEnd; r += 2) {
    const r1 = min(r + 1, rowEnd - 1);
    dotQ8_0Rows(out + <usize>r * 4, out + <usize>r1 * 4, w + <usize>r * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecQ4_0(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 32) * 18, q = (rowEnd - rowStart) / STREAMS;
  for (let k = 0; k < q * (STREAMS / 2); k++) {
    const r0 = pairRow(k, rowStart, q), r1 = r0 + q;
    dotQ4_0Rows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
  for (let r = rowStart + STREAMS * q; r < rowEnd; r += 2) {
    const r1 = min(r + 1, rowEnd - 1);
    dotQ4_0Rows(out + <usize>r * 4, out + <usize>r1 * 4, w + <usize>r * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecQ4_K(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 256) * 144, q = (rowEnd - rowStart) / STREAMS;
  for (let k = 0; k < q * STREAMS; k++) {
    const r = streamRow(k, rowStart, q);
    store<f32>(out + <usize>r * 4, dotQ4_K(w + <usize>r * rowBytes, x, cols));
  }
  for (let r = rowStart + STREAMS * q; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotQ4_K(w + <usize>r * rowBytes, x, cols));
}

export function matvecQ6_K(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 256) * 210, q = (rowEnd - rowStart) / STREAMS;
  for (let k = 0; k < q * STREAMS; k++) {
    const r = streamRow(k, rowStart, q);
    store<f32>(out + <usize>r * 4, dotQ6_K(w + <usize>r * rowBytes, x, cols));
  }
  for (let r = rowStart + STREAMS * q; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotQ6_K(w + <usize>r * rowBytes, x, cols));
}
