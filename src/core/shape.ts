import { ShapeError } from './errors.js';

export type Shape = readonly number[];

/** Number of elements of a shape. */
export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeToString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Check `shape` against a pattern where a number must match exactly and `-1` matches anything.
 * Throws a ShapeError naming `where`.
 */
export function expectShape(where: string, shape: Shape, pattern: readonly number[]): void {
  const ok = shape.length === pattern.length && pattern.every((d, i) => d === -1 || d === shape[i]);
  if (!ok) {
    const want = `[${pattern.map((d) => (d === -1 ? '*' : String(d))).join(', ')}]`;
    throw new ShapeError(where, `shape ${want}`, `shape ${shapeToString(shape)}`);
  }
}
