import { ArgumentError } from '../core/errors.js';
import type { Shape } from '../core/shape.js';
import type { EncodedTensor, Tensor } from '../tensor/tensor.js';

/** A dropout's rate p, in [0, 1), and the seed that draws its mask (cpu/dropout.ts). */
export interface Dropout {
  p: number;
  seed: number;
}

export type Precision = 'fp32' | 'f16x3' | 'mixed';
export const precisions: readonly Precision[] = ['fp32', 'f16x3', 'mixed'];

/** An ArgumentError where `precision` is none, or one backend `name` does not take (the cpu ones take fp32 alone). */
export function checkPrecision(name: string, precision: Precision | undefined): void {
  if (precision !== undefined && !precisions.includes(precision)) throw new ArgumentError('precision', precisions.map((p) => `"${p}"`).join(' or '), JSON.stringify(precision));
  if (name !== 'webgpu' && precision !== undefined && precision !== 'fp32') throw new ArgumentError('precision', `"fp32" on the cpu and reference backends ("${precision}" is for webgpu)`, `"${precision}"`);
}

/**
 * The contract every compute backend implements; the model is written once against it.
 *
 * Ops return new tensors and never mutate their inputs, except `writeAt`, which fills a preallocated buffer
 * (the KV cache). Ops may run asynchronously on a device: only `read` brings data back to the host, and it is
 * awaited. Letters: B batch, T time, S cache length, D width, H heads, Hkv kv heads, Dh head dim, V vocab.
 */
export interface Ops {
  readonly name: string;
  /** Where the ops run, in words ("CPU, 2 threads", the GPU adapter). */
  readonly device: string;
  /**
   * How matrix products round their inputs: 'fp32' (the default, also when absent) multiplies them as they are;
   * 'f16x3' (the webgpu backend made with it) splits each f32 operand into two f16s and multiplies on tensor cores,
   * to 22 of f32's 24 bits; 'mixed' (the same) multiplies them as f16, with f32 sums in both.
   */
  readonly precision?: Precision;
  /** The most memory the backend has held for tensors at once (its heap or pool), in bytes, where it tracks it. */
  readonly reservedBytes?: number;

  /** Copy host data into a new tensor of `shape` (f32 for Float32Array, i32 for Int32Array). */
  fromHost(data: Float32Array | Int32Array, shape: Shape): Tensor;
  /** A weight as a file stores it (f16, bf16 or quantized blocks); the backend keeps or decodes it. */
  fromEncoded(t: EncodedTensor): Tensor;
  /** A new f32 tensor of zeros. */
  zeros(shape: Shape): Tensor;
  /** Copy a tensor's data back to the host. */
  read(t: Tensor): Promise<Float32Array | Int32Array>;
  /** Release a tensor's storage now rather than at garbage collection. */
  release(t: Tensor): void;
  /** Release the backend itself (threads, device); its tensors become invalid. */
  dispose(): void;
  /**
   * Run `fn` and release every tensor it created except those it returns (like TensorFlow.js's tidy): a forward
   * pass makes many intermediates, and device backends must free them deterministically.
   */
  tidy<T extends Tensor | Tensor[]>(fn: () => T): T;
  /** The same data seen with another shape of equal element count (no copy). */
  reshape(x: Tensor, shape: Shape): Tensor;
  /** Rows [start, start + length) along axis 1 of x (B, T, ...): (B, length, ...). */
  sliceTime(x: Tensor, start: number, length: number): Tensor;
  /** Write x (B, T, ...) into dst (B, S, ...) at rows [pos, pos + T) of axis 1, in place. */
  writeAt(dst: Tensor, x: Tensor, pos: number): void;
  /**
   * Optional: a loop of steps that issue the same ops each time, one position further on (decode), which the backend
   * may run more cheaply than op by op (WebGPU replays the commands of earlier steps). Without it, run each step.
   */
  stepLoop?(idsShape: Shape, options: StepLoopOptions): StepLoop;
  /**
   * Optional: x (..., n) f32 -> (...) i32, the index of the largest of each row (the first on ties; NaN never wins),
   * for reading, not as ids of later ops: greedy decoding on a device reads back one id instead of the logits.
   */
  argmax?(x: Tensor): Tensor;

  /** table (V, D), ids (B, T) i32 -> (B, T, D). */
  embedding(table: Tensor, ids: Tensor): Tensor;
  /** x (..., D), weight (D): x / sqrt(mean(x^2) + eps) * weight. */
  rmsnorm(x: Tensor, weight: Tensor, eps: number): Tensor;
  /** x (..., in), w (out, in) -> (..., out) = x w^T. */
  linear(x: Tensor, w: Tensor): Tensor;
  /** Several linear maps of the same x (Q/K/V, gate/up), which a threaded backend runs as one dispatch. */
  linears(x: Tensor, ws: Tensor[]): Tensor[];
  /**
   * Rotary embedding of x (B, T, H, Dh), rotating interleaved pairs (x[2i], x[2i+1]) by angle
   * (startPos + t) * invFreq[i]; invFreq is (Dh/2).
   */
  rope(x: Tensor, invFreq: Tensor, startPos: number): Tensor;
  /**
   * Causal grouped-query attention. q (B, T, H, Dh); k, v (B, S, Hkv, Dh) with S >= startPos + T; query t sits at
   * position startPos + t and attends to keys 0..startPos + t; query head h reads kv head floor(h / (H / Hkv)).
   * Scale 1/sqrt(Dh). Returns (B, T, H, Dh). With `dropout` (training), the probabilities that weigh the values go
   * through dropout, probability (b, h, t, s) taking mask element probabilityIndex(b, h, t, s) (cpu/dropout.ts), as
   * nanoGPT and PyTorch's scaled_dot_product_attention drop them.
   */
  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number, dropout?: Dropout): Tensor;
  /** silu(gate) * up, elementwise. */
  swiglu(gate: Tensor, up: Tensor): Tensor;
  /** a + b, elementwise, same shapes. */
  add(a: Tensor, b: Tensor): Tensor;
  /** Softmax over the last axis. */
  softmax(x: Tensor): Tensor;
  /**
   * Dropout (training): x * 1/(1 - p) where element i is kept, else 0, with p in [0, 1). The mask is a function of
   * (seed, i) only (backend/cpu/dropout.ts), the same on every backend, so its backward is dropout(dy, p, seed).
   */
  dropout(x: Tensor, p: number, seed: number): Tensor;

  // ---- training: the backward of each forward op, the fused loss and the optimizer ----
  // Each `...Backward` takes the forward's inputs and dy, the gradient of the loss with respect to the forward's
  // output, and returns the gradients with respect to the inputs (same shapes as those inputs).

  /** y = linear(x, w): dx (..., in) = dy w; dw (out, in) = dy^T x, summed over every row of x. */
  linearBackward(dy: Tensor, x: Tensor, w: Tensor): { dx: Tensor; dw: Tensor };
  /** y = rmsnorm(x, weight, eps): dx (..., D) and dweight (D), the latter summed over rows. */
  rmsnormBackward(dy: Tensor, x: Tensor, weight: Tensor, eps: number): { dx: Tensor; dweight: Tensor };
  /** y = rope(x, invFreq, startPos): a rotation, so dx is dy rotated by the opposite angles. */
  ropeBackward(dy: Tensor, invFreq: Tensor, startPos: number): Tensor;
  /**
   * y = attention(q, k, v, 0) with k, v (B, T, Hkv, Dh) (training: no cache, S = T). Recomputes the softmax row by
   * row rather than storing T x T probabilities; dk and dv sum over the query heads that share a kv head. `y`, the
   * forward's output where the caller kept it, may spare a backend recomputing it (the softmax backward's row terms
   * are rowsum(dy y)), and with it what that backend's forward kept beside it (WebGPU's flash kernels: each row's
   * log-sum-exp).
   */
  attentionBackward(dy: Tensor, q: Tensor, k: Tensor, v: Tensor, dropout?: Dropout, y?: Tensor): { dq: Tensor; dk: Tensor; dv: Tensor };
  /** y = swiglu(gate, up) = silu(gate) * up. */
  swigluBackward(dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor };
  /** y = embedding(table, ids): dtable (vocab, D), rows scattered-added by id (zeros for unseen ids). */
  embeddingBackward(dy: Tensor, ids: Tensor, vocab: number): Tensor;
  /**
   * The output layer and cross-entropy fused, a chunk of rows at a time, so the (N, V) logits never exist whole:
   * logits = x w^T for x (N, D), w (V, D); loss (1) = sum over rows with target >= 0 of -log softmax(logits)[target]
   * (rows with target < 0 are ignored). With `gradScale` given, also dx (N, D) and dw (V, D) of gradScale * loss
   * (the trainer passes 1 / (counted rows * accumulation steps) to get the gradient of the mean).
   */
  crossEntropy(x: Tensor, w: Tensor, targets: Tensor, gradScale?: number): { loss: Tensor; dx?: Tensor; dw?: Tensor };
  /** (1): the sum of squares of every element (for the global gradient norm). */
  sumSquares(x: Tensor): Tensor;
  /** x * s, elementwise. */
  scale(x: Tensor, s: number): Tensor;
  /**
   * One AdamW step (Loshchilov & Hutter), in place on param, m and v (all the same shape), `step` counting from 1,
   * with g = gradScale grad (the clipping factor and the loss scale's inverse, applied as the gradient is read):
   *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
   *   param -= lr * (m / (1 - b1^step)) / (sqrt(v / (1 - b2^step)) + eps) + lr * weightDecay * param
   * (decay uses the param before this step's update, as torch.optim.AdamW does).
   */
  adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, hp: AdamWStep): void;
}

/** The hyper-parameters of one AdamW step (see Ops.adamw). */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
  /** What the gradient is multiplied by as it is read (default 1). */
  gradScale?: number;
}

/** The step of an `Ops.stepLoop`. */
export interface StepLoopOptions {
  /** The step's ops on an i32 ids tensor of the loop's shape, returning the f32 tensor each step reads (logits). */
  step(ids: Tensor): Tensor;
  /** The position of the next step's ids (the KV cache's length): what its ops depend on. */
  position(): number;
  /** Called when a step ran without calling `step`: do what `step` does besides ops (advance the KV cache). */
  replayed(): void;
}

export interface StepLoop {
  /** One step on these ids (as many as the loop's shape holds): its output, read. */
  run(ids: Int32Array): Promise<Float32Array | Int32Array>;
  /** Whether steps now run without their ops. */
  readonly replaying: boolean;
  /** Free what the loop holds (its ids tensor, reserved buffers). */
  dispose(): void;
}
