// Decode: out[r] = w[r, :] . x for rows r in [rowStart, rowEnd) of w (rows, cols), stored as the file stores it.
// x is f32 for f32 and bf16, f32 times 2^72 for f16 (see dotF16Rows), and quantized for the block types (q8a.ts): Q8S
// for Q8_0, Q8G for Q4_0, Q8K for Q4_K and Q6_K.
//
// Some kernels take two rows at once, loading x once for both. Row r pairs with its partner in the other half of
// the range, not with r + 1: two streams that each run on through their half are what the prefetcher follows (rows
// r and r + 1 are two short streams that jump ahead together, and were a third slower out of cache).
import { dotBF16, dotF16Rows, dotF32, dotQ4_0Rows, dotQ4_K, dotQ6_K, dotQ8_0Rows } from './dot';

/** Rows r (of the first half) and its partner: r + half, or r itself for an odd count's last row. */
// @ts-ignore: decorator
@inline function partner(r: i32, half: i32, rowEnd: i32): i32 {
  return r + half < rowEnd ? r + half : r;
}

export function matvecF32(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotF32(w + <usize>r * <usize>cols * 4, x, cols));
}

export function matvecF16(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  // Two rows a pass at every width: each x load serves both (the 5632-wide down projection of tinyllama: 16 -> 21
  // GB/s, where x and a row overflow L1), and on an Intel Xeon two streams from memory also beat one at 2048 wide
  // (6.4 -> 8.1 GB/s), where one row a pass had been the faster on an AMD EPYC.
  const rowBytes = <usize>cols * 2, half = (rowEnd - rowStart + 1) >> 1;
  for (let r = rowStart; r < rowStart + half; r++) {
    const r1 = partner(r, half, rowEnd);
    dotF16Rows(out + <usize>r * 4, out + <usize>r1 * 4, w + <usize>r * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecBF16(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  for (let r = rowStart; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotBF16(w + <usize>r * <usize>cols * 2, x, cols));
}

export function matvecQ8_0(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 32) * 34, half = (rowEnd - rowStart + 1) >> 1;
  for (let r = rowStart; r < rowStart + half; r++) {
    const r1 = partner(r, half, rowEnd);
    dotQ8_0Rows(out + <usize>r * 4, out + <usize>r1 * 4, w + <usize>r * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecQ4_0(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 32) * 18, half = (rowEnd - rowStart + 1) >> 1;
  for (let r = rowStart; r < rowStart + half; r++) {
    const r1 = partner(r, half, rowEnd);
    dotQ4_0Rows(out + <usize>r * 4, out + <usize>r1 * 4, w + <usize>r * rowBytes, w + <usize>r1 * rowBytes, x, cols);
  }
}

export function matvecQ4_K(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 256) * 144;
  for (let r = rowStart; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotQ4_K(w + <usize>r * rowBytes, x, cols));
}

export function matvecQ6_K(out: usize, x: usize, w: usize, cols: i32, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>(cols / 256) * 210;
  for (let r = rowStart; r < rowEnd; r++) store<f32>(out + <usize>r * 4, dotQ6_K(w + <usize>r * rowBytes, x, cols));
}
