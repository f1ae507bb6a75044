// Reductions over one 64-wide workgroup, for the kernels that give a workgroup a row (softmax, rmsnorm,
// cross-entropy) or a share of a sum. A fixed tree in workgroup memory: deterministic, no atomics.
import { MAX_GROUPS_X } from '../gpu.js';

/** WGSL: the row of a workgroup in a `dispatch1d(..., rows * 64)` (rows spread over x and y); uniform. */
export const ROW_OF = /* wgsl */ `
fn rowOf(wg: vec3u) -> u32 { return wg.x + wg.y * ${MAX_GROUPS_X}u; }`;

/**
 * WGSL: `fn NAME(lane: u32, v: TYPE) -> TYPE`, v combined over the workgroup's 64 invocations and returned to every
 * one of them. Call it from uniform control flow (every invocation, or none).
 */
export function workgroupReduce(name: string, type: string, combine: 'sum' | 'max'): string {
  const part = `${name}Part`;
  const both = combine === 'sum' ? `${part}[lane] + ${part}[lane + s]` : `max(${part}[lane], ${part}[lane + s])`;
  return /* wgsl */ `
var<workgroup> ${part}: array<${type}, 64>;
fn ${name}(lane: u32, v: ${type}) -> ${type} {
  workgroupBarrier(); // earlier reads of ${part} are done
  ${part}[lane] = v;
  for (var s = 32u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lane < s) { ${part}[lane] = ${both}; }
  }
  return workgroupUniformLoad(&${part}[0]);
}`;
}
