// RMSNorm, forward and backward, on rows of length dim: one 64-wide workgroup per row (rows wrap onto y as in
// dispatch1d), each invocation summing a strided share of the row, then a tree reduction in workgroup memory. Sums are
// f32 over 64 partials (the CPU reference sums in f64). dweight, a sum over rows, is reduced by two more kernels in a
// fixed order, so it is deterministic without float atomics.
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';
import { ROW_OF, workgroupReduce } from './reduce.js';

// out (rows, dim) = x / sqrt(mean(x^2) + eps) * weight
const RMSNORM = /* wgsl */ `${ROW_OF}${workgroupReduce('rowSum', 'f32', 'sum')}
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
const RMSNORM_BACKWARD = /* wgsl */ `${ROW_OF}${workgroupReduce('rowSum', 'vec2f', 'sum')}
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

// dweight (dim) = sum over rows of dy x r, in two deterministic steps: partial (chunks, dim) sums the rows of each
// chunk of CHUNK rows, then dweight sums the chunks in order, one invocation per column each (neighbouring
// invocations read neighbouring columns). Two levels keep f32 rounding near (CHUNK + chunks) ulps rather than rows.
const CHUNK = 64;
const RMSNORM_DWEIGHT_PARTIAL = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> partial: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> rinv: array<f32>;
struct Params { n: u32, rows: u32, dim: u32 }
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  let j = i % p.dim;
  let first = i / p.dim * ${CHUNK}u;
  var acc = 0.0;
  for (var row = first; row < min(first + ${CHUNK}u, p.rows); row++) { acc += dy[row * p.dim + j] * x[row * p.dim + j] * rinv[row]; }
  partial[i] = acc;
}`;
const RMSNORM_DWEIGHT = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> dweight: array<f32>;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
struct Params { chunks: u32, dim: u32 }
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let j = flatIndex(id);
  if (j >= p.dim) { return; }
  var acc = 0.0;
  for (var c = 0u; c < p.chunks; c++) { acc += partial[c * p.dim + j]; }
  dweight[j] = acc;
}`;

/** out (rows, dim) = rmsnorm of each row of x (rows, dim) times weight (dim). */
export function rmsnorm(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, weight: GPUBuffer, rows: number, dim: number, eps: number): void {
  if (rows > 0 && dim > 0) gpu.dispatch1d(RMSNORM, [out, x, weight], [rows, dim, f32(eps)], rows * 64);
}

/** dx (rows, dim) and dweight (dim, summed over rows; zeros when there are none) of rmsnorm. */
export function rmsnormBackward(gpu: Gpu, dx: GPUBuffer, dweight: GPUBuffer, dy: GPUBuffer, x: GPUBuffer, weight: GPUBuffer, rows: number, dim: number, eps: number): void {
  if (dim === 0) return;
  const chunks = Math.ceil(rows / CHUNK);
  // Scratch, freed at once: the pool hands a buffer out again only to commands recorded later, which run later.
  const rinv = gpu.alloc(rows * 4);
  const partial = gpu.alloc(chunks * dim * 4);
  if (rows > 0) {
    gpu.dispatch1d(RMSNORM_BACKWARD, [dx, rinv, dy, x, weight], [rows, dim, f32(eps)], rows * 64);
    gpu.dispatch1d(RMSNORM_DWEIGHT_PARTIAL, [partial, dy, x, rinv], [chunks * dim, rows, dim], chunks * dim);
  }
  gpu.dispatch1d(RMSNORM_DWEIGHT, [dweight, partial], [chunks, dim], dim);
  gpu.free(rinv);
  gpu.free(partial);
}
