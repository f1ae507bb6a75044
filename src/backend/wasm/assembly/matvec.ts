// Decode: out[r] = w[r, :] . x for rows r in [rowStart, rowEnd) of w (rows, cols), stored as the file stores it.
// x is f32 for f32 and bf16, f32 times 2^72 for f16 (2^62 for halves rebased at load; see dotF16Rows), and quantized
// for the block types (q8a.ts): Q8S for Q8_0, Q8G for Q4_0, Q8K for Q4_K and Q6_K. Q8_0 and Q4_0 take
// `exactScales` for a tensor whose block scales include f16 subnormals (see f16Gather4).
//
// Every kernel takes two rows at once, loading x once for both, and walks its rows as STREAMS runs of consecutive
// rows in turn, not in order: several streams running on through their runs are what the prefetchers follow best.
// Rows r and r + 1 together were a third slower out of cache on an AMD EPYC; on an Intel Xeon, from memory at 1
// thread, 4 runs against 2 took Q4_0 from 6.6 to 7.4 GB/s, Q8_0 from 8.5 to 9.5 and f16 from 8.8 to 9.1, and Q4_K
// (then one row at a time) from 5.2 to 6.1. Against one row at a time in order: smollm f32 decode on that Xeon, 1
// thread, from 17.8 to 20.9 tokens/s; bf16, 1.4 GB of 2048-column rows, from 5.2 to 9.5 GB/s at 1 thread and 10.5 to
// 16.7 at 2; Q6_K from 7.4 to 8.0-8.4 GB/s at 1 thread.
import { dotBF16Rows, dotF16Rows, dotF32Rows, dotQ4_0Rows, dotQ4_KRows, dotQ6_KRows, dotQ8_0Rows } from './dot';

/** Runs of weight rows the kernels walk at once (see above). */
const STREAMS = 4;

/**
 * Row k (0 <= k < n) of the walk over rows [rowStart, rowStart + n): the first STREAMS q rows (q = n / STREAMS) as
 * STREAMS runs of q taken in turn (run j's row i at k = STREAMS i + j), the rest in order. Walk rows 2i and 2i + 1
 * are a run's row and the next run's: the two-row kernels' pairs.
 */
// @ts-ignore: decorator
@inline function walkRow(k: i32, rowStart: i32, n: i32): i32 {
  const q = n / STREAMS;
  return rowStart + (k < STREAMS * q ? (k % STREAMS) * q + k / STREAMS : k);
}

export function matvecF32(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>cols * 4, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    dotF32Rows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecF16(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>cols * 2, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    dotF16Rows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecBF16(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>cols * 2, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    dotBF16Rows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecQ8_0(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32, exactScales: bool): void {
  const rowBytes = <usize>(cols / 32) * 34, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    const o0 = out + <usize>r0 * 4, o1 = out + <usize>r1 * 4, w0 = w + <usize>r0 * rowBytes, w1 = w + <usize>r1 * rowBytes;
    if (exactScales) dotQ8_0Rows(o0, o1, w0, w1, x, cols, true); // two inlined copies: no test inside a row
    else dotQ8_0Rows(o0, o1, w0, w1, x, cols, false);
  }
}

export function matvecQ4_0(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32, exactScales: bool): void {
  const rowBytes = <usize>(cols / 32) * 18, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    const o0 = out + <usize>r0 * 4, o1 = out + <usize>r1 * 4, w0 = w + <usize>r0 * rowBytes, w1 = w + <usize>r1 * rowBytes;
    if (exactScales) dotQ4_0Rows(o0, o1, w0, w1, x, cols, true); // two inlined copies: no test inside a row
    else dotQ4_0Rows(o0, o1, w0, w1, x, cols, false);
  }
}

export function matvecQ4_K(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 256) * 144, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    dotQ4_KRows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecQ6_K(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 256) * 210, n = rowEnd - rowStart;
  for (let k = 0; k < n; k += 2) {
    const r0 = walkRow(k, rowStart, n), r1 = walkRow(min(k + 1, n - 1), rowStart, n); // an odd last row pairs with itself
    dotQ6_KRows(out + <usize>r0 * 4, out + <usize>r1 * 4, w + <usize>r0 * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}
