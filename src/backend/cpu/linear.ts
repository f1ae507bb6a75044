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
