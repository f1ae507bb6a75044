import type { Shape } from '../core/shape.js';
import type { EncodedTensor, Tensor } from '../tensor/tensor.js';

/**
 * The contract every compute backend implements; the model is written once against it.
 *
 * Ops return new tensors and never mutate their inputs, except `writeAt`, which fills a preallocated buffer
 * (the KV cache). Ops may run asynchronously on a device: only `read` brings data back to the host, and it is
 * awaited. Letters: B batch, T time, S cache length, D width, H heads, Hkv kv heads, Dh head dim, V vocab.
 */
export interface Ops {
  readonly name: string;

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
   * Scale 1/sqrt(Dh). Returns (B, T, H, Dh).
   */
  attention(q: Tensor, k: Tensor, v: Tensor, startPos: number): Tensor;
  /** silu(gate) * up, elementwise. */
  swiglu(gate: Tensor, up: Tensor): Tensor;
  /** a + b, elementwise, same shapes. */
  add(a: Tensor, b: Tensor): Tensor;
  /** Softmax over the last axis. */
  softmax(x: Tensor): Tensor;
}
