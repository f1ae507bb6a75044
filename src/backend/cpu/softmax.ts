/** Softmax over rows of length n: out = exp(x - max) / sum(exp(x - max)); sums in f64. */
export function softmax(out: Float32Array, x: Float32Array, n: number): void {
  for (let base = 0; base < x.length; base += n) {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, x[base + i]!);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(x[base + i]! - max);
    for (let i = 0; i < n; i++) out[base + i] = Math.exp(x[base + i]! - max) / sum;
  }
}
