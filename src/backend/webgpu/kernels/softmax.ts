// Softmax over the last axis: one 64-wide workgroup per row (rows wrap onto y as in dispatch1d), each invocation
// taking a strided share of the row; the row max and the sum go through workgroup-memory tree reductions.
import type { Gpu } from '../gpu.js';
import { ROW_OF, workgroupReduce } from './reduce.js';

// out (rows, n) = exp(x - max) / sum(exp(x - max)) per row (subtracting the max keeps exp from overflowing).
// The start of the max, -FLT_MAX: WGSL has no infinity literal.
const SOFTMAX = /* wgsl */ `${ROW_OF}${workgroupReduce('rowMax', 'f32', 'max')}${workgroupReduce('rowSum', 'f32', 'sum')}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
struct Params { rows: u32, n: u32 }
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = rowOf(wg);
  if (row >= p.rows) { return; }
  let base = row * p.n;
  var m = -0x1.fffffep+127f;
  for (var i = lane; i < p.n; i += 64u) { m = max(m, x[base + i]); }
  m = rowMax(lane, m);
  var sum = 0.0;
  for (var i = lane; i < p.n; i += 64u) {
    let e = exp(x[base + i] - m);
    out[base + i] = e;
    sum += e;
  }
  sum = rowSum(lane, sum);
  for (var i = lane; i < p.n; i += 64u) { out[base + i] = out[base + i] / sum; }
}`;

/** out (rows, n) = softmax of each row of x (rows, n). */
export function softmax(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, rows: number, n: number): void {
  if (rows > 0 && n > 0) gpu.dispatch1d(SOFTMAX, [out, x], [rows, n], rows * 64);
}
