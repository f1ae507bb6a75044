import type { DType, FloatDType, QuantDType } from '../core/dtype.js';
import type { Shape } from '../core/shape.js';

/**
 * A handle to n-dimensional data owned by a backend. The handle is plain data: the backend that made it
 * (`backend`) is the only code that looks inside `storage` (a Float32Array on the CPU, a GPU buffer on a device).
 * Host code reads values with `await ops.read(t)`, never synchronously, so device backends fit the same contract.
 */
export interface Tensor {
  readonly shape: Shape;
  readonly dtype: DType;
  readonly backend: string;
  readonly storage: unknown;
}

/** Host-side float data with its shape, as loaders produce it (row-major, last axis contiguous). */
export interface HostTensor {
  readonly shape: Shape;
  readonly data: Float32Array;
}

/**
 * Weights as a file stores them, not decoded: f16/bf16 elements or GGUF quantized blocks (row-major, blocks along
 * the last axis). Backends keep them as they are and decode on the fly, or decode once (the reference backend).
 */
export interface EncodedTensor {
  readonly shape: Shape;
  readonly dtype: Exclude<FloatDType, 'f32'> | QuantDType;
  readonly bytes: Uint8Array;
}
