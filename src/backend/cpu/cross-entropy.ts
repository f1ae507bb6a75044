import { ArgumentError } from '../../core/errors.js';

/** Rows of logits that exist at once: the (N, V) logits are never materialised whole. */
export const crossEntropyChunkRows = 64;

/**
 * The output layer fused with cross-entropy, a chunk of rows at a time. For x (N, D), w (V, D):
 *   logits = x w^T;  loss = sum over rows with target >= 0 of logsumexp(logits) - logits[target]
 * and with `gradScale` (else dx, dw are left untouched): dlogits = gradScale (softmax(logits) - onehot(target)),
 *   dx (N, D) = dlogits w;  dw (V, D) = dlogits^T x.  Rows with target < 0 contribute nothing. Returns the loss.
 */
export function crossEntropy(
  x: Float32Array, w: Float32Array, targets: Int32Array, rows: number, dim: number, vocab: number,
  grads?: { dx: Float32Array; dw: Float32Array; gradScale: number },
): number {
  let loss = 0;
  const logits = new Float64Array(crossEntropyChunkRows * vocab);
  const dwAcc = grads ? new Float64Array(vocab * dim) : null;
  for (let start = 0; start < rows; start += crossEntropyChunkRows) {
    const count = Math.min(crossEntropyChunkRows, rows - start);
    for (let r = 0; r < count; r++) {
      const n = start + r;
      const target = targets[n]!;
      if (target >= vocab) throw new ArgumentError('target id', `an integer < ${vocab} (or < 0 to skip the row)`, String(target));
      const row = logits.subarray(r * vocab, (r + 1) * vocab);
      if (target < 0) {
        row.fill(0);
        continue;
      }
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += x[n * dim + d]! * w[v * dim + d]!;
        row[v] = dot;
        max = Math.max(max, dot);
      }
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(row[v]! - max);
      loss += max + Math.log(sum) - row[target]!;
      if (!grads) continue;
      for (let v = 0; v < vocab; v++) row[v] = (grads.gradScale * Math.exp(row[v]! - max)) / sum; // dlogits
      row[target] = row[target]! - grads.gradScale;
    }
    if (!grads) continue;
    for (let r = 0; r < count; r++) {
      const n = start + r;
      const row = logits.subarray(r * vocab, (r + 1) * vocab);
      for (let d = 0; d < dim; d++) {
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += row[v]! * w[v * dim + d]!;
        grads.dx[n * dim + d] = sum;
      }
      for (let v = 0; v < vocab; v++) {
        const g = row[v]!;
        if (g === 0) continue;
        for (let d = 0; d < dim; d++) dwAcc![v * dim + d] = dwAcc![v * dim + d]! + g * x[n * dim + d]!;
      }
    }
  }
  grads?.dw.set(dwAcc!);
  return loss;
}
