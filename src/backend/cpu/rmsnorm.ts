/** out (N, D) = x / sqrt(mean(x^2) + eps) * weight, row by row; sums in f64. */
export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, dim: number, eps: number): void {
  for (let base = 0; base < x.length; base += dim) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[base + i]! * x[base + i]!;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[base + i] = x[base + i]! * scale * weight[i]!;
  }
}
