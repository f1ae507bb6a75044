// Greedy decoding's choice on the GPU, so that a decode step reads back one id instead of the vocabulary's logits
// (196 KB for smollm's 49152, and a host loop over them). out[r] (i32) = the index of the largest of row r of
// x (rows, n): the first on ties, as sampler.ts's argmax; NaN never wins (a row of NaN gives 0). One workgroup of
// 256 a row: each invocation keeps the first largest of its elements i = t, t + 256, ... (coalesced), then the
// workgroup halves the candidates in a tree, keeping the larger (the lower index on ties).
import type { Gpu } from '../gpu.js';
import { ROW_OF } from './reduce.js';

const WIDTH = 256;

const wgsl = /* wgsl */ `${ROW_OF}
@group(0) @binding(0) var<storage, read_write> out: array<i32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> p: Params;
var<workgroup> values: array<f32, ${WIDTH}>;
var<workgroup> indices: array<u32, ${WIDTH}>; // p.n: no candidate yet

// Whether candidate (v, i) beats (best, at): a candidate at all, and larger, or as large and earlier.
fn beats(v: f32, i: u32, best: f32, at: u32) -> bool {
  return i != p.n && (at == p.n || v > best || (v == best && i < at));
}

@compute @workgroup_size(${WIDTH})
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row = rowOf(wg);
  var best = 0.0;
  var at = p.n;
  for (var i = t; i < p.n; i += ${WIDTH}u) {
    let v = x[row * p.n + i];
    if (v == v && (at == p.n || v > best)) { best = v; at = i; }
  }
  values[t] = best;
  indices[t] = at;
  for (var s = ${WIDTH / 2}u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (t < s && beats(values[t + s], indices[t + s], values[t], indices[t])) {
      values[t] = values[t + s];
      indices[t] = indices[t + s];
    }
  }
  if (t == 0u) { out[row] = select(i32(indices[0]), 0, indices[0] == p.n); }
}`;

/** out (rows i32) = the argmax of each row of x (rows, n f32); see above. */
export function argmax(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, rows: number, n: number): void {
  if (rows > 0) gpu.dispatch1d(wgsl, [out, x], [n], rows * 64);
}
