/** out (N, O) = x (N, I) w^T, with w stored (O, I) as in PyTorch and GGUF; dot products in f64. */
export function linear(out: Float32Array, x: Float32Array, w: Float32Array, rows: number, inF: number, outF: number): void {
  for (let n = 0; n < rows; n++) {
    const xo = n * inF;
    for (let o = 0; o < outF; o++) {
      const wo = o * inF;
      let sum = 0;
      for (let i = 0; i < inF; i++) sum += x[xo + i]! * w[wo + i]!;
      out[n * outF + o] = sum;
    }
  }
}

/**
 * Backward of linear, y (N, O) = x (N, I) w^T:
 *   dx (N, I) = dy w        dw (O, I) = dy^T x  (summed over the N rows); sums in f64.
 */
export function linearBackward(
  dx: Float32Array, dw: Float32Array, dy: Float32Array, x: Float32Array, w: Float32Array, rows: number, inF: number, outF: number,
): void {
  for (let n = 0; n < rows; n++) {
    for (let i = 0; i < inF; i++) {
      let sum = 0;
      for (let o = 0; o < outF; o++) sum += dy[n * outF + o]! * w[o * inF + i]!;
      dx[n * inF + i] = sum;
    }
  }
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) {
      let sum = 0;
      for (let n = 0; n < rows; n++) sum += dy[n * outF + o]! * x[n * inF + i]!;
      dw[o * inF + i] = sum;
    }
  }
}
