/** out (N, D) = x / sqrt(mean(x^2) + eps) * weight, row by row; sums in f64. */
export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, dim: number, eps: number): void {
  for (let base = 0; base < x.length; base += dim) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[base + i]! * x[base + i]!;
    const scale = 1 / Math.sqrt(ss / dim + eps);
    for (let i = 0; i < dim; i++) out[base + i] = x[base + i]! * scale * weight[i]!;
  }
}

/**
 * Backward of rmsnorm. With r = 1/sqrt(mean(x^2) + eps) per row and g = dy * weight:
 *   dx = r g - x r^3 mean(g x)        dweight += dy x r  (summed over rows)
 */
export function rmsnormBackward(
  dx: Float32Array, dweight: Float32Array, dy: Float32Array, x: Float32Array, weight: Float32Array, dim: number, eps: number,
): void {
  const dw = new Float64Array(dim);
  for (let base = 0; base < x.length; base += dim) {
    let ss = 0;
    let gx = 0;
    for (let i = 0; i < dim; i++) {
      ss += x[base + i]! * x[base + i]!;
      gx += dy[base + i]! * weight[i]! * x[base + i]!;
    }
    const r = 1 / Math.sqrt(ss / dim + eps);
    const c = (r * r * r * gx) / dim;
    for (let i = 0; i < dim; i++) {
      dx[base + i] = r * dy[base + i]! * weight[i]! - x[base + i]! * c;
      dw[i] = dw[i]! + dy[base + i]! * x[base + i]! * r;
    }
  }
  dweight.set(dw);
}
