import { ArgumentError } from '../../core/errors.js';

/** out (N, D) = rows of table (V, D) picked by ids (N). Ids outside [0, V) are an error, not a silent read. */
export function embedding(out: Float32Array, table: Float32Array, ids: Int32Array, vocab: number, dim: number): void {
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n]!;
    if (!(id >= 0 && id < vocab)) throw new ArgumentError('token id', `an integer in [0, ${vocab})`, String(id));
    out.set(table.subarray(id * dim, (id + 1) * dim), n * dim);
  }
}
