// Optimizer kernels: the sum of squares behind the global gradient norm, and the AdamW update.
import type { AdamWStep } from '../../ops.js';
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';
import { workgroupReduce } from './reduce.js';

/** Most workgroups of the first reduction pass (so the second pass is one workgroup over at most this many). */
const MAX_PARTIALS = 1024;
/** Elements per invocation the first pass aims at before it uses more workgroups. */
const PER_INVOCATION = 8;

/**
 * One reduction pass: workgroup g of `groups` writes out[g] = sum of f(a) over the elements a = x[offset + i] of its
 * grid-strided share of i < n (i = g 64 + lid + j 64 groups), summed per invocation in order, then by a fixed tree:
 * deterministic.
 */
function reduceSource(f: string): string {
  return /* wgsl */ `${workgroupReduce('groupSum', 'f32', 'sum')}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
struct Params { n: u32, groups: u32, offset: u32 }
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wg.x * 64u + lid; i < p.n; i += p.groups * 64u) { let a = x[p.offset + i]; s += ${f}; }
  s = groupSum(lid, s);
  if (lid == 0u) { out[wg.x] = s; }
}`;
}

const SUM_SQUARES = reduceSource('a * a');
const SUM = reduceSource('a');

// AdamW in place, per element (see adamw below for the host-side constants).
const ADAMW = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> param: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
struct Params { n: u32, beta1: f32, oneMinusBeta1: f32, beta2: f32, oneMinusBeta2: f32, decay: f32, stepSize: f32, bias2Sqrt: f32, eps: f32, gradScale: f32 }
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  let g = grad[i] * p.gradScale;
  let mi = p.beta1 * m[i] + p.oneMinusBeta1 * g;
  let vi = p.beta2 * v[i] + p.oneMinusBeta2 * g * g;
  m[i] = mi;
  v[i] = vi;
  param[i] = param[i] * p.decay - p.stepSize * mi / (sqrt(vi) / p.bias2Sqrt + p.eps);
}`;

/**
 * out (1) = sum of x[i]^2 over n elements, in two passes: up to MAX_PARTIALS workgroups write partial sums to a
 * scratch buffer, then one workgroup adds them (one pass straight into out when one workgroup suffices).
 */
export function sumSquares(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, n: number): void {
  reduce(gpu, SUM_SQUARES, out, x, n, 0);
}

/** out (1) = sum of x[offset + i] for i < n, as sumSquares sums. */
export function sum(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, n: number, offset = 0): void {
  reduce(gpu, SUM, out, x, n, offset);
}

function reduce(gpu: Gpu, wgsl: string, out: GPUBuffer, x: GPUBuffer, n: number, offset: number): void {
  const groups = Math.min(MAX_PARTIALS, Math.max(1, Math.ceil(n / (64 * PER_INVOCATION))));
  if (groups === 1) {
    gpu.dispatch(wgsl, [out, x], [n, 1, offset], [1]);
    return;
  }
  const partial = gpu.alloc(groups * 4);
  gpu.dispatch(wgsl, [partial, x], [n, groups, offset], [groups]);
  gpu.dispatch(SUM, [out, partial], [groups, 1, 0], [1]);
  gpu.free(partial); // the dispatches recorded above still run first
}

/**
 * One AdamW step in place on param, m and v (torch.optim.AdamW, as cpu/adamw.ts), g = gradScale grad:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   param = param (1 - lr wd) - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 * The step constants are computed on the host in f64 and rounded to f32 once.
 */
export function adamw(gpu: Gpu, param: GPUBuffer, grad: GPUBuffer, m: GPUBuffer, v: GPUBuffer, n: number, hp: AdamWStep): void {
  if (n === 0) return;
  const { lr, beta1, beta2, eps, weightDecay, step, gradScale = 1 } = hp;
  const stepSize = lr / (1 - beta1 ** step);
  const bias2Sqrt = Math.sqrt(1 - beta2 ** step);
  gpu.dispatch1d(ADAMW, [param, grad, m, v], [n, f32(beta1), f32(1 - beta1), f32(beta2), f32(1 - beta2), f32(1 - lr * weightDecay), f32(stepSize), f32(bias2Sqrt), f32(eps), f32(gradScale)], n);
}
