/**
 * Causal grouped-query attention with an online softmax (one pass over the keys, as in the memory-efficient
 * attention the LLaMA paper uses): for each query row we keep a running max m, a running sum l of exp(s - m) and
 * an accumulator of exp(s - m) * v, rescaling them whenever m grows. Memory is O(Dh) per query; the T x S score
 * matrix never exists.
 *
 * q (B, T, H, Dh); k, v (B, S, Hkv, Dh) with S >= startPos + T; out (B, T, H, Dh).
 * Query t is at position startPos + t and sees keys 0..startPos + t. Query head h reads kv head floor(h / (H/Hkv)).
 */
export function attention(
  out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  batch: number, time: number, heads: number, kvHeads: number, headDim: number, cacheLen: number, startPos: number,
): void {
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const acc = new Float64Array(headDim);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      for (let h = 0; h < heads; h++) {
        const qo = ((b * time + t) * heads + h) * headDim;
        const kvh = Math.floor(h / group);
        let m = -Infinity;
        let l = 0;
        acc.fill(0);
        for (let s = 0; s <= startPos + t; s++) {
          const ko = ((b * cacheLen + s) * kvHeads + kvh) * headDim;
          let score = 0;
          for (let d = 0; d < headDim; d++) score += q[qo + d]! * k[ko + d]!;
          score *= scale;
          const mNew = Math.max(m, score);
          const correction = Math.exp(m - mNew); // 0 on the first key (m = -inf)
          const p = Math.exp(score - mNew);
          l = l * correction + p;
          for (let d = 0; d < headDim; d++) acc[d] = acc[d]! * correction + p * v[ko + d]!;
          m = mNew;
        }
        for (let d = 0; d < headDim; d++) out[qo + d] = acc[d]! / l;
      }
    }
  }
}
