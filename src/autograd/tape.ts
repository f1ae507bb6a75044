/**
 * Reverse-mode differentiation over the coarse ops of the Ops contract. A Tape is itself an Ops: the model's forward
 * (model/llama.ts) runs on it unchanged, each op runs eagerly on the backend and is recorded with its hand-written
 * backward (the backend's `...Backward` kernels), as the LLaMA paper did to save memory and time.
 *
 * Gradients accumulate in a map from tensor to gradient that may be shared between tapes (gradient accumulation
 * over micro-batches, and the recomputation tapes of `checkpoint`).
 */
import type { AdamWStep, Dropout, Ops } from '../backend/ops.js';
import { ArgumentError, UnsupportedError } from '../core/errors.js';
import type { Shape } from '../core/shape.js';
import type { EncodedTensor, Tensor } from '../tensor/tensor.js';

/** Gradients by tensor identity. */
export type Gradients = Map<Tensor, Tensor>;

interface Node {
  /** The op's output; none for a loss, whose node always runs. */
  output?: Tensor;
  /**
   * Given dy = d(loss)/d(output), add the gradients of the inputs (via `accumulate`). Returns 'kept' when it
   * handed dy itself on (as a gradient or a view of one), so the caller must not release it.
   */
  backward(dy: Tensor | undefined): void | 'kept';
}

export class Tape implements Ops {
  readonly name: string;
  private readonly nodes: Node[] = [];
  /** Every tensor this tape's forward created: released by `dispose`. */
  private readonly created: Tensor[] = [];

  /**
   * @param backend where the arithmetic runs.
   * @param grads where gradients accumulate; share one map between tapes to sum their gradients.
   */
  constructor(readonly backend: Ops, readonly grads: Gradients = new Map()) {
    this.name = `tape(${backend.name})`;
  }

  get device(): string {
    return this.backend.device;
  }

  /**
   * Back-propagate from every recorded loss (`crossEntropy` seeds its own gradients) and from `seeds`, newest node
   * first. Gradients of intermediates are released as soon as they are consumed; those of leaves (parameters,
   * inputs) stay in `grads`.
   */
  backward(seeds: [Tensor, Tensor][] = []): void {
    for (const [t, g] of seeds) this.accumulate(t, g);
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i]!;
      let dy: Tensor | undefined;
      if (node.output) {
        dy = this.grads.get(node.output);
        if (!dy) continue; // nothing downstream depends on it
        this.grads.delete(node.output);
      }
      if (node.backward(dy) !== 'kept' && dy) this.backend.release(dy);
    }
    this.nodes.length = 0;
  }

  /** grads[t] += g (taking ownership of g). */
  accumulate(t: Tensor, g: Tensor): void {
    const old = this.grads.get(t);
    if (!old) {
      this.grads.set(t, g);
      return;
    }
    this.grads.set(t, this.backend.add(old, g));
    this.backend.release(old);
    this.backend.release(g);
  }

  /** Release every tensor the forward created (the gradients in `grads` stay). */
  dispose(): void {
    for (const t of this.created) this.backend.release(t);
    this.created.length = 0;
    this.nodes.length = 0;
  }

  /**
   * Activation recomputation: run `fn(ops, x)` now without keeping its intermediates, and recompute them on a
   * fresh tape when the backward pass reaches it. Memory: one tensor per checkpoint instead of every
   * intermediate; cost: one more forward of `fn`. Gradients are identical (same kernels, same order).
   */
  checkpoint(fn: (ops: Ops, x: Tensor) => Tensor, x: Tensor): Tensor {
    const y = this.keep(this.backend.tidy(() => fn(this.backend, x)));
    this.record(y, (dy) => {
      const inner = new Tape(this.backend, this.grads);
      inner.backward([[fn(inner, x), dy!]]);
      inner.dispose();
      return 'kept';
    });
    return y;
  }

  private keep<T extends Tensor>(t: T): T {
    this.created.push(t);
    return t;
  }

  private record(output: Tensor, backward: (dy: Tensor) => void | 'kept'): Tensor {
    this.nodes.push({ output, backward });
    return output;
  }

  // ---- pass-through ----

  fromHost(data: Float32Array | Int32Array, shape: Shape): Tensor {
    return this.keep(this.backend.fromHost(data, shape));
  }
  fromEncoded(t: EncodedTensor): Tensor {
    return this.keep(this.backend.fromEncoded(t));
  }
  zeros(shape: Shape): Tensor {
    return this.keep(this.backend.zeros(shape));
  }
  read(t: Tensor): Promise<Float32Array | Int32Array> {
    return this.backend.read(t);
  }
  release(t: Tensor): void {
    this.backend.release(t);
  }
  /** Recorded intermediates must outlive the forward, so a tape's tidy keeps everything (dispose frees it). */
  tidy<T extends Tensor | Tensor[]>(fn: () => T): T {
    return fn();
  }

  // ---- recorded ops ----

  reshape(x: Tensor, shape: Shape): Tensor {
    const y = this.backend.reshape(x, shape); // a view: nothing new to release
    return this.record(y, (dy) => {
      this.accumulate(x, this.backend.reshape(dy, x.shape));
      return 'kept';
    });
  }

  embedding(table: Tensor, ids: Tensor): Tensor {
    const y = this.keep(this.backend.embedding(table, ids));
    return this.record(y, (dy) => this.accumulate(table, this.backend.embeddingBackward(dy, ids, table.shape[0]!)));
  }

  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    const y = this.keep(this.backend.rmsnorm(x, weight, eps));
    return this.record(y, (dy) => {
      const { dx, dweight } = this.backend.rmsnormBackward(dy, x, weight, eps);
      this.accumulate(x, dx);
      this.accumulate(weight, dweight);
    });
  }

  linear(x: Tensor, w: Tensor): Tensor {
    return this.linears(x, [w])[0]!;
  }

  linears(x: Tensor, ws: Tensor[]): Tensor[] {
    return this.backend.linears(x, ws).map((y, i) => this.record(this.keep(y), (dy) => {
      const { dx, dw } = this.backend.linearBackward(dy, x, ws[i]!);
      this.accumulate(x, dx);
      this.accumulate(ws[i]!, dw);
    }));
  }

  rope(x: Tensor, invFreq: Tensor, startPos: number): Tensor {
    const y = this.keep(this.backend.rope(x, invFreq, startPos));
    return this.record(y, (dy) => this.accumulate(x, this.backend.ropeBackward(dy, invFreq, startPos)));
  }

  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number, dropout?: Dropout): Tensor {
    if (startPos !== 0 || k.shape[1] !== q.shape[1]) {
      throw new UnsupportedError('tape', 'attention', 'differentiating attention over a KV cache (training uses startPos 0, S = T)');
    }
    const y = this.keep(this.backend.attention(q, k, v, 0, dropout));
    return this.record(y, (dy) => {
      const { dq, dk, dv } = this.backend.attentionBackward(dy, q, k, v, dropout, y);
      this.accumulate(q, dq);
      this.accumulate(k, dk);
      this.accumulate(v, dv);
    });
  }

  swiglu(gate: Tensor, up: Tensor): Tensor {
    const y = this.keep(this.backend.swiglu(gate, up));
    return this.record(y, (dy) => {
      const { dgate, dup } = this.backend.swigluBackward(dy, gate, up);
      this.accumulate(gate, dgate);
      this.accumulate(up, dup);
    });
  }

  dropout(x: Tensor, p: number, seed: number): Tensor {
    const y = this.keep(this.backend.dropout(x, p, seed));
    return this.record(y, (dy) => this.accumulate(x, this.backend.dropout(dy, p, seed)));
  }

  add(a: Tensor, b: Tensor): Tensor {
    const y = this.keep(this.backend.add(a, b));
    return this.record(y, (dy) => {
      this.accumulate(a, this.backend.scale(dy, 1));
      this.accumulate(b, dy);
      return 'kept';
    });
  }

  scale(x: Tensor, s: number): Tensor {
    const y = this.keep(this.backend.scale(x, s));
    return this.record(y, (dy) => this.accumulate(x, this.backend.scale(dy, s)));
  }

  /**
   * The loss: computed with its gradients at once (the fused kernel needs no second pass), which are added to x's
   * and w's gradients when `backward` reaches this point of the tape.
   */
  crossEntropy(x: Tensor, w: Tensor, targets: Tensor, gradScale?: number): { loss: Tensor; dx?: Tensor; dw?: Tensor } {
    if (gradScale === undefined) throw new ArgumentError('crossEntropy gradScale', 'a number on a tape', 'undefined');
    const { loss, dx, dw } = this.backend.crossEntropy(x, w, targets, gradScale);
    this.nodes.push({ backward: () => {
      this.accumulate(x, dx!);
      this.accumulate(w, dw!);
    } });
    return { loss }; // the caller owns the loss
  }

  // ---- not differentiable here ----

  sliceTime(): Tensor {
    throw new UnsupportedError('tape', 'sliceTime', 'differentiating sliceTime');
  }
  writeAt(): void {
    throw new UnsupportedError('tape', 'writeAt', 'differentiating writes into a KV cache');
  }
  softmax(): Tensor {
    throw new UnsupportedError('tape', 'softmax', 'differentiating softmax (attention and the loss have fused kernels)');
  }
  linearBackward(dy: Tensor, x: Tensor, w: Tensor): { dx: Tensor; dw: Tensor } {
    return this.backend.linearBackward(dy, x, w);
  }
  rmsnormBackward(dy: Tensor, x: Tensor, weight: Tensor, eps: number): { dx: Tensor; dweight: Tensor } {
    return this.backend.rmsnormBackward(dy, x, weight, eps);
  }
  ropeBackward(dy: Tensor, invFreq: Tensor, startPos: number): Tensor {
    return this.backend.ropeBackward(dy, invFreq, startPos);
  }
  attentionBackward(dy: Tensor, q: Tensor, k: Tensor, v: Tensor, dropout?: Dropout): { dq: Tensor; dk: Tensor; dv: Tensor } {
    return this.backend.attentionBackward(dy, q, k, v, dropout);
  }
  swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
    return this.backend.swigluBackward(dy, gate, up);
  }
  embeddingBackward(dy: Tensor, ids: Tensor, vocab: number): Tensor {
    return this.backend.embeddingBackward(dy, ids, vocab);
  }
  sumSquares(x: Tensor): Tensor {
    return this.backend.sumSquares(x);
  }
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void {
    this.backend.adamw(param, grad, m, v, hp);
  }
}
