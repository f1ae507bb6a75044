/**
 * The LLaMA forward pass (Touvron et al. 2023, and the grouped-query attention of LLaMA 2), written once against
 * the Ops contract. x is (B, T, D) throughout; letters as in backend/ops.ts.
 *
 *   h   = x + Attention(RMSNorm(x))          pre-normalisation, no biases
 *   out = h + SwiGLU-FFN(RMSNorm(h))
 *   logits = RMSNorm(x_L) W_out^T
 */
import type { Dropout, Ops } from '../backend/ops.js';
import { ArgumentError } from '../core/errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { headDim, type LlamaConfig } from './config.js';
import type { KvCache } from './kv-cache.js';
import type { LayerWeights, LlamaWeights } from './weights.js';

/** A LLaMA whose weights live on a backend. */
export interface LlamaModel {
  readonly config: LlamaConfig;
  readonly ops: Ops;
  readonly weights: LlamaWeights;
  /** RoPE inverse frequencies (Dh/2), see model/rope.ts. */
  readonly invFreq: Tensor;
}

export interface ForwardOptions {
  /** Keys/values of earlier positions; the new tokens sit at positions cache.length.. and are appended to it. */
  cache?: KvCache;
  /** Return logits of the last position only, (B, 1, V): all that sampling needs. */
  lastOnly?: boolean;
}

/** tokens (B, T) i32 -> logits (B, T, V), or (B, 1, V) with `lastOnly`. */
export function forward(model: LlamaModel, tokens: Tensor, options: ForwardOptions = {}): Tensor {
  const { ops, weights: w, config: c } = model;
  const { cache, lastOnly = false } = options;
  const [, time] = tokens.shape as [number, number];
  const startPos = cache?.length ?? 0;
  if (cache && startPos + time > cache.capacity) {
    throw new ArgumentError('sequence length', `at most ${cache.capacity} positions (the KV cache)`, `${startPos + time}`);
  }
  const logits = ops.tidy(() => {
    let x = ops.embedding(w.tokEmbeddings, tokens);
    w.layers.forEach((layer, l) => {
      const input = x;
      x = ops.tidy(() => block(model, input, layer, startPos, cache?.layers[l])); // a block's intermediates go at once
    });
    if (lastOnly) x = ops.sliceTime(x, time - 1, 1);
    return ops.linear(ops.rmsnorm(x, w.norm, c.normEps), w.output);
  });
  if (cache) cache.length += time;
  return logits;
}

/**
 * Dropout in training (LLaMA used none; small data wants it): rate p, and a seed that draws this block's masks.
 * Applied where GPT-2 and nanoGPT apply it: to the embeddings, to the attention probabilities, and to each residual
 * branch before it is added.
 */
export type { Dropout };

/** x, or dropout(x) with site's own mask when training with dropout. */
export function dropped(ops: Ops, x: Tensor, dropout: Dropout | undefined, site: number): Tensor {
  return dropout && dropout.p > 0 ? ops.dropout(x, dropout.p, mixSeed(dropout.seed, site)) : x;
}

/** A seed for a sub-site of a seed (an integer in [0, 2^32)). */
export function mixSeed(seed: number, site: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(site + 1, 0xc2b2ae35)) >>> 0;
}

/** One pre-norm transformer block: two residual lines. x (B, T, D) at positions startPos.. -> (B, T, D). */
export function block(model: LlamaModel, x: Tensor, w: LayerWeights, startPos: number, cache?: { k: Tensor; v: Tensor }, dropout?: Dropout): Tensor {
  const { ops, config: c } = model;
  const attended = attention(model, ops.rmsnorm(x, w.attnNorm, c.normEps), w, startPos, cache, dropout && { p: dropout.p, seed: mixSeed(dropout.seed, 2) });
  const h = ops.add(x, dropped(ops, attended, dropout, 0));
  return ops.add(h, dropped(ops, feedForward(ops, ops.rmsnorm(h, w.ffnNorm, c.normEps), w), dropout, 1));
}

/** Causal self-attention with RoPE on q and k, grouped-query heads, an optional KV cache, and dropout in training. */
function attention(model: LlamaModel, x: Tensor, w: LayerWeights, startPos: number, cache?: { k: Tensor; v: Tensor }, dropout?: Dropout): Tensor {
  const { ops, config: c, invFreq } = model;
  const [batch, time] = x.shape as [number, number];
  const dh = headDim(c);
  const [xq, xk, xv] = ops.linears(x, [w.wq, w.wk, w.wv]) as [Tensor, Tensor, Tensor];
  const q = ops.rope(ops.reshape(xq, [batch, time, c.nHeads, dh]), invFreq, startPos);
  const k = ops.rope(ops.reshape(xk, [batch, time, c.nKvHeads, dh]), invFreq, startPos);
  const v = ops.reshape(xv, [batch, time, c.nKvHeads, dh]);
  let keys = k;
  let values = v;
  if (cache) {
    ops.writeAt(cache.k, k, startPos);
    ops.writeAt(cache.v, v, startPos);
    keys = cache.k;
    values = cache.v;
  }
  const out = ops.attention(q, keys, values, startPos, dropout); // (B, T, H, Dh)
  return ops.linear(ops.reshape(out, [batch, time, c.dim]), w.wo);
}

/** SwiGLU feed-forward: w2(silu(w1 x) * w3 x). */
function feedForward(ops: Ops, x: Tensor, w: LayerWeights): Tensor {
  const [gate, up] = ops.linears(x, [w.w1, w.w3]) as [Tensor, Tensor];
  return ops.linear(ops.swiglu(gate, up), w.w2);
}
