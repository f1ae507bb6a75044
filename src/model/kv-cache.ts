import type { Ops } from '../backend/ops.js';
import type { Tensor } from '../tensor/tensor.js';
import { headDim, type LlamaConfig } from './config.js';

/**
 * Keys and values of every layer for the positions seen so far: per layer k, v of shape (B, capacity, Hkv, Dh).
 * `length` positions are filled; the forward pass writes the next T rows and advances it.
 */
export class KvCache {
  readonly layers: { k: Tensor; v: Tensor }[];
  length = 0;

  constructor(
    private readonly ops: Ops,
    config: LlamaConfig,
    readonly batch: number,
    readonly capacity: number,
  ) {
    const shape = [batch, capacity, config.nKvHeads, headDim(config)];
    this.layers = Array.from({ length: config.nLayers }, () => ({ k: ops.zeros(shape), v: ops.zeros(shape) }));
  }

  dispose(): void {
    for (const { k, v } of this.layers) {
      this.ops.release(k);
      this.ops.release(v);
    }
    this.layers.length = 0;
  }
}
