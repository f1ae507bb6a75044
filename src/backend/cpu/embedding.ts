import { ArgumentError } from '../../core/errors.js';

/** out (N, D) = rows of table (V, D) picked by ids (N). Ids outside [0, V) are an error, not a silent read. */
export function embedding(out: Float32Array, table: Float32Array, ids: Int32Array, vocab: number, dim: number): void {
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (!(id >= 0 && id < vocab)) throw new ArgumentError('token id', `an integer in [0, ${vocab})`, String(id));
    out.set(table.subarray(id * dim, (id + 1) * dim), n * dim);
  }
}

/** Backward of embedding: dtable (V, D) = zeros, then row ids[n] += dy row n (ids checked as in the forward). */
export function embeddingBackward(dtable: Float32Array, dy: Float32Array, ids: Int32Array, vocab: number, dim: number): void {
  dtable.fill(0);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (!(id >= 0 && id < vocab)) throw new ArgumentError('token id', `an integer in [0, ${vocab})`, String(id));
    for (let d = 0; d < dim; d++) dtable[id * dim + d] = dtable[id * dim + d]! + dy[n * dim + d]!;
  }
}
