import { ShapeError } from '../core/errors.js';
import { expectShape } from '../core/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** The dimensions of an attention call, checked: q (B, T, H, Dh), k and v (B, S, Hkv, Dh), Hkv | H, S >= startPos + T. */
export function attentionDims(q: Tensor, k: Tensor, v: Tensor, startPos: number) {
  const [batch, time, heads, headDim] = q.shape as [number, number, number, number];
  const [, cacheLen, kvHeads] = k.shape as [number, number, number];
  expectShape('attention k', k.shape, [batch, -1, -1, headDim]);
  expectShape('attention v', v.shape, k.shape);
  if (heads % kvHeads !== 0) throw new ShapeError('attention', `kv heads dividing ${heads}`, `${kvHeads}`);
  if (startPos + time > cacheLen) throw new ShapeError('attention', `a cache of at least ${startPos + time} rows`, `${cacheLen}`);
  return { batch, time, heads, kvHeads, headDim, cacheLen };
}
