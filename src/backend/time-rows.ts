/**
 * The two host-side row copies along the time axis that every backend with host-visible f32 memory shares:
 * slicing (B, T, ...) to (B, length, ...) and writing new rows into a KV cache (B, S, ...). Argument checks too.
 */
import { ArgumentError } from '../core/errors.js';
import { expectShape, numel } from '../core/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** The shape of rows [start, start + length) of x (B, T, ...); an ArgumentError if they are not inside T. */
export function timeSliceShape(x: Tensor, start: number, length: number): number[] {
  const time = x.shape[1]!;
  if (!(Number.isInteger(start) && Number.isInteger(length) && start >= 0 && length >= 0 && start + length <= time)) {
    throw new ArgumentError('sliceTime range', `within [0, ${time})`, `[${start}, ${start + length})`);
  }
  return [x.shape[0]!, length, ...x.shape.slice(2)];
}

/** out (B, length, row) = rows [start, start + length) of src (B, T, row), after timeSliceShape. */
export function sliceTimeRows(x: Tensor, src: Float32Array, out: Float32Array, start: number, length: number): void {
  const [batch, time] = x.shape as [number, number];
  const row = numel(x.shape.slice(2));
  for (let b = 0; b < batch; b++) out.set(src.subarray((b * time + start) * row, (b * time + start + length) * row), b * length * row);
}

/** Rows of src (B, T, row) into out (B, S, row) at [pos, pos + T), for tensors dst and x. */
export function writeTimeRows(dst: Tensor, x: Tensor, out: Float32Array, src: Float32Array, pos: number): void {
  const [batch, cacheLen] = dst.shape as [number, number];
  const time = x.shape[1]!;
  expectShape('writeAt', x.shape, [batch, time, ...dst.shape.slice(2)]);
  if (pos < 0 || pos + time > cacheLen) {
    throw new ArgumentError('cache position', `rows within [0, ${cacheLen})`, `[${pos}, ${pos + time})`);
  }
  const row = numel(dst.shape.slice(2));
  for (let b = 0; b < batch; b++) out.set(src.subarray(b * time * row, (b + 1) * time * row), (b * cacheLen + pos) * row);
}
