import { kept, probabilityIndex, type DropoutParams } from './dropout.js';

/**
 * Causal grouped-query attention with an online softmax (one pass over the keys, as in the memory-efficient
 * attention the LLaMA paper uses): for each query row we keep a running max m, a running sum l of exp(s - m) and
 * an accumulator of exp(s - m) * v, rescaling them whenever m grows. Memory is O(Dh) per query; the T x S score
 * matrix never exists.
 *
 * q (B, T, H, Dh); k, v (B, S, Hkv, Dh) with S >= startPos + T; out (B, T, H, Dh).
 * Query t is at position startPos + t and sees keys 0..startPos + t. Query head h reads kv head floor(h / (H/Hkv)).
 * With `drop` (dropoutParams), each probability's weight on its value is dropped as mask element
 * probabilityIndex(b, h, t, s) says; the sum l that normalises them is not.
 */
export function attention(
  out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  batch: number, time: number, heads: number, kvHeads: number, headDim: number, cacheLen: number, startPos: number,
  drop?: DropoutParams,
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
          const weight = drop ? dropped(p, drop, probabilityIndex(b, h, t, s, heads, time, cacheLen)) : p;
          for (let d = 0; d < headDim; d++) acc[d] = acc[d]! * correction + weight * v[ko + d]!;
          m = mNew;
        }
        for (let d = 0; d < headDim; d++) out[qo + d] = acc[d]! / l;
      }
    }
  }
}

/**
 * Backward of causal attention for training (startPos 0, k and v of length T). Memory-efficient, as the forward:
 * for each query row the probabilities are recomputed (two passes over its keys: max, then sum) rather than kept
 * as a T x T matrix. With p_s = softmax_s(scale q.k_s), dp_s = dy.v_s and D = sum_s p_s dp_s (= dy.out):
 *   ds_s = p_s (dp_s - D);   dq += scale ds_s k_s;   dk_s += scale ds_s q;   dv_s += p_s dy
 * dk and dv sum over the query heads of a group. q, dq (B, T, H, Dh); k, v, dk, dv (B, T, Hkv, Dh).
 * With `drop`, the forward weighed v_s by p'_s = dropped(p_s), so dv_s += p'_s dy, and dp_s is dropped(dy.v_s) (the
 * gradient reaching p_s through the mask); D = sum_s p_s dp_s is still dy.out.
 */
export function attentionBackward(
  dq: Float32Array, dk: Float32Array, dv: Float32Array, dy: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  batch: number, time: number, heads: number, kvHeads: number, headDim: number, drop?: DropoutParams,
): void {
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const p = new Float64Array(time);
  const dkAcc = new Float64Array(dk.length);
  const dvAcc = new Float64Array(dv.length);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      for (let h = 0; h < heads; h++) {
        const qo = ((b * time + t) * heads + h) * headDim;
        const kvh = Math.floor(h / group);
        const keyAt = (s: number) => ((b * time + s) * kvHeads + kvh) * headDim;
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let score = 0;
          for (let d = 0; d < headDim; d++) score += q[qo + d]! * k[keyAt(s) + d]!;
          p[s] = score * scale;
          max = Math.max(max, p[s]!);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += (p[s] = Math.exp(p[s]! - max));
        let dotSum = 0; // D
        const dp = new Float64Array(t + 1);
        const weight = new Float64Array(t + 1); // p'_s
        for (let s = 0; s <= t; s++) {
          p[s] = p[s]! / sum;
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += dy[qo + d]! * v[keyAt(s) + d]!;
          const at = probabilityIndex(b, h, t, s, heads, time, time);
          dp[s] = drop ? dropped(dot, drop, at) : dot;
          weight[s] = drop ? dropped(p[s]!, drop, at) : p[s]!;
          dotSum += p[s]! * dp[s]!;
        }
        for (let d = 0; d < headDim; d++) dq[qo + d] = 0;
        for (let s = 0; s <= t; s++) {
          const ds = p[s]! * (dp[s]! - dotSum) * scale;
          const ko = keyAt(s);
          for (let d = 0; d < headDim; d++) {
            dq[qo + d] = dq[qo + d]! + ds * k[ko + d]!;
            dkAcc[ko + d] = dkAcc[ko + d]! + ds * q[qo + d]!;
            dvAcc[ko + d] = dvAcc[ko + d]! + weight[s]! * dy[qo + d]!;
          }
        }
      }
    }
  }
  dk.set(dkAcc);
  dv.set(dvAcc);
}

/** x times the dropout's scale where mask element i keeps it, else 0. */
function dropped(x: number, drop: DropoutParams, i: number): number {
  return kept(i, drop.seedHash, drop.threshold) ? x * drop.scale : 0;
}
