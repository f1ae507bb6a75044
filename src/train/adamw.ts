/**
 * AdamW with global-norm gradient clipping, as LLaMA trained: β1 0.9, β2 0.95, eps 1e-8, decoupled weight decay
 * 0.1, clip 1.0. The arithmetic of each step is the backend's `adamw` kernel (the same as torch.optim.AdamW);
 * clipping is torch's clip_grad_norm_: scale every gradient by min(1, maxNorm / (norm + 1e-6)). A step whose
 * gradients are not finite is skipped (mixed precision's loss scaling relies on that; in fp32 it keeps a diverged
 * batch from destroying the weights).
 */
import type { Ops } from '../backend/ops.js';
import type { Gradients } from '../autograd/tape.js';
import type { Tensor } from '../tensor/tensor.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; Infinity turns clipping off. */
  clipNorm: number;
}

export const llamaAdamW: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1.0 };

/** A trained tensor, by our flat name (model/weights.ts), and whether weight decay applies to it. */
export interface Param {
  name: string;
  tensor: Tensor;
  decay: boolean;
}

export class AdamW {
  /** Updates done so far (the next one is step + 1). */
  step = 0;
  /** First and second moments by parameter name. */
  readonly m = new Map<string, Tensor>();
  readonly v = new Map<string, Tensor>();

  constructor(private readonly ops: Ops, readonly params: Param[], readonly options: AdamWOptions) {
    for (const p of params) {
      this.m.set(p.name, ops.zeros(p.tensor.shape));
      this.v.set(p.name, ops.zeros(p.tensor.shape));
    }
  }

  /**
   * The global L2 norm of the gradients (the per-tensor sums added in f64, in parameter order). The sums are
   * gathered into one tensor on the backend and read once: a device backend makes one round trip, not one per tensor.
   */
  async gradNorm(grads: Gradients): Promise<number> {
    const sums = this.params.flatMap((p) => {
      const g = grads.get(p.tensor);
      return g ? [this.ops.sumSquares(g)] : [];
    });
    if (sums.length === 0) return 0;
    const all = this.ops.zeros([1, sums.length]);
    sums.forEach((s, i) => {
      this.ops.writeAt(all, this.ops.reshape(s, [1, 1]), i);
      this.ops.release(s);
    });
    const values = await this.ops.read(all);
    this.ops.release(all);
    let sum = 0;
    for (const v of values) sum += v;
    return Math.sqrt(sum);
  }

  /**
   * Clip, then one AdamW update of every parameter at learning rate `lr`; releases the gradients. The gradients
   * are `lossScale` times the true ones (loss-scale.ts). A parameter without a gradient (unused in the batch) still
   * decays and moves on its momentum, as in torch when its grad is zero. Returns the true gradient norm before
   * clipping; when it is not finite, nothing was updated (the step still counts).
   */
  async update(grads: Gradients, lr: number, lossScale = 1): Promise<number> {
    const norm = (await this.gradNorm(grads)) / lossScale;
    this.step += 1;
    const factor = Math.min(1, this.options.clipNorm / (norm + 1e-6)) / lossScale;
    const { beta1, beta2, eps, weightDecay } = this.options;
    for (const p of this.params) {
      const raw = grads.get(p.tensor);
      grads.delete(p.tensor);
      if (!Number.isFinite(norm)) {
        if (raw) this.ops.release(raw);
        continue;
      }
      const g = raw ?? this.ops.zeros(p.tensor.shape);
      const hp = { lr, beta1, beta2, eps, weightDecay: p.decay ? weightDecay : 0, step: this.step, gradScale: factor };
      this.ops.adamw(p.tensor, g, this.m.get(p.name)!, this.v.get(p.name)!, hp);
      this.ops.release(g);
    }
    return norm;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) this.ops.release(t);
  }
}
