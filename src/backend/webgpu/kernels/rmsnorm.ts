// RMSNorm, forward and backward, on rows of length dim: one 64-wide workgroup per row (rows wrap onto y as in
// dispatch1d), each invocation summing a strided share of the row, then a tree reduction in workgroup memory. Sums are
// f32 over 64 partials (the CPU reference sums in f64); dweight is reduced by a second kernel, column by column over
// the rows in order, so it is deterministic without float atomics.
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';

/**
 * WGSL shared by the row kernels: the row of a workgroup of a `rows * 64` dispatch1d (from workgroup_id, so it is
 * uniform and may guard barriers), and the sum of a `type` value over the workgroup, returned to every invocation.
 */
const ROWS = (type: string): string => /* wgsl */ `${FLAT_INDEX}
fn rowOf(wg: vec3u) -> u32 { return flatIndex(wg * vec3u(64u, 1u, 1u)) / 64u; }
var<workgroup> part: array<${type}, 64>;
fn rowSum(lane: u32, v: ${type}) -> ${type} {
  workgroupBarrier(); // earlier reads of part are done
  part[lane] = v;
  for (var s = 32u; s > 0u; s >>= 1u) {
    workgroupBarrier();
    if (lane < s) { part[lane] += part[lane + s]; }
  }
  return workgroupUniformLoad(&part[0]);
}`;

// out (rows, dim) = x / sqrt(mean(x^2) + eps) * weight
const RMSNORM = /* wgsl */ `${ROWS('f32')}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = rowOf(wg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var ss = 0.0;
  for (var i = lane; i < p.dim; i += 64u) { ss += x[base + i] * x[base + i]; }
  let scale = 1.0 / sqrt(rowSum(lane, ss) / f32(p.dim) + p.eps);
  for (var i = lane; i < p.dim; i += 64u) { out[base + i] = x[base + i] * scale * weight[i]; }
}`;

// Per row, with r = 1/sqrt(mean(x^2) + eps) and g = dy * weight: dx = r g - x r^3 mean(g x). r goes to rinv (rows)
// for the dweight kernel.
const RMSNORM_BACKWARD = /* wgsl */ `${ROWS('vec2f')}
@group(0) @binding(0) var<storage, read_write> dx: array<f32>;
@group(0) @binding(1) var<storage, read_write> rinv: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> weight: array<f32>;
struct Params { rows: u32, dim: u32, eps: f32 }
@group(0) @binding(5) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = rowOf(wg);
  if (row >= p.rows) { return; }
  let base = row * p.dim;
  var acc = vec2f(0.0); // (sum x^2, sum g x)
  for (var i = lane; i < p.dim; i += 64u) {
    let xi = x[base + i];
    acc += vec2f(xi * xi, dy[base + i] * weight[i] * xi);
  }
  let sums = rowSum(lane, acc);
  let r = 1.0 / sqrt(sums.x / f32(p.dim) + p.eps);
  let c = r * r * r * sums.y / f32(p.dim);
  for (var i = lane; i < p.dim; i += 64u) { dx[base + i] = r * dy[base + i] * weight[i] - x[base + i] * c; }
  if (lane == 0u) { rinv[row] = r; }
}`;

// dweight[j] = sum over rows of dy x r, one invocation per column looping over the rows in order (neighbouring
// invocations read neighbouring columns).
const RMSNORM_DWEIGHT = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> rinv: array<f32>;
struct Params { rows: u32, dim: u32 }
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let j = flatIndex(id);
  if (j >= p.dim) { return; }
  var acc = 0.0;
  for (var row = 0u; row < p.rows; row++) { acc += dy[row * p.dim + j] * x[row * p.dim + j] * rinv[row]; }
  dweight[j] = acc;
}`;

/** out (rows, dim) = rmsnorm of each row of x (rows, dim) times weight (dim). */
export function rmsnorm(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, weight: GPUBuffer, rows: number, dim: number, eps: number): void {
  if (rows > 0 && dim > 0) gpu.dispatch1d(RMSNORM, [out, x, weight], [rows, dim, f32(eps)], rows * 64);
}

/** dx (rows, dim) and dweight (dim, summed over rows; zeros when there are none) of rmsnorm. */
export function rmsnormBackward(gpu: Gpu, dx: GPUBuffer, dweight: GPUBuffer, dy: GPUBuffer, x: GPUBuffer, weight: GPUBuffer, rows: number, dim: number, eps: number): void {
  if (dim === 0) return;
  const rinv = gpu.alloc(rows * 4); // freed at once: the pool hands it out again only to commands recorded later
  if (rows > 0) gpu.dispatch1d(RMSNORM_BACKWARD, [dx, rinv, dy, x, weight], [rows, dim, f32(eps)], rows * 64);
  gpu.dispatch1d(RMSNORM_DWEIGHT, [dweight, dy, x, rinv], [rows, dim], dim);
  gpu.free(rinv);
}
