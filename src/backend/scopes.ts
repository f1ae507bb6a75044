import { ShapeError } from '../core/errors.js';
import { numel, shapeToString, type Shape } from '../core/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/** A device backend's storage record: its tensors (and their reshaped views) point at one and free it once. */
export interface Freeable {
  freed: boolean;
}

/**
 * The `tidy` scopes of a backend whose memory must be freed deterministically (a WASM heap, GPU buffers): every
 * storage made inside `tidy(fn)` is freed when fn returns, except what fn returns, which moves to the enclosing
 * scope.
 */
export class Scopes<S extends Freeable> {
  private readonly stack: Set<S>[] = [];

  constructor(private readonly free: (s: S) => void) {}

  /** Record a new storage in the innermost scope (outside every scope, the caller owns it). */
  track(s: S): void {
    this.stack[this.stack.length - 1]?.add(s);
  }

  /** Free a storage now (once). */
  release(s: S): void {
    if (s.freed) return;
    s.freed = true;
    this.free(s);
  }

  tidy<T extends Tensor | Tensor[]>(fn: () => T): T {
    const scope = new Set<S>();
    this.stack.push(scope);
    let result: T;
    try {
      result = fn();
    } finally {
      this.stack.pop();
    }
    const kept = new Set((Array.isArray(result) ? result : [result]).map((t) => t.storage as S));
    for (const s of scope) {
      if (kept.has(s)) this.track(s);
      else this.release(s);
    }
    return result;
  }
}

/** x seen with another shape of equal element count, sharing its storage. */
export function reshapeView(x: Tensor, shape: Shape): Tensor {
  if (numel(shape) !== numel(x.shape)) {
    throw new ShapeError('reshape', `${numel(x.shape)} elements`, `shape ${shapeToString(shape)}`);
  }
  return { ...x, shape: [...shape] };
}
