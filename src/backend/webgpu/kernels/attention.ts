// Causal grouped-query attention, forward and backward, with the math of cpu/attention.ts. One 64-wide workgroup
// per output row; its invocations take a strided share of the keys (or, for dk/dv, of the queries reading a key),
// each with an online softmax (running max m, sum l, and a private Dh accumulator rescaled when m grows), and
// combine through workgroup memory in a fixed order: no T x S score matrix, any cache length, deterministic.
// Kernels are generated per head size Dh (private arrays need a constant length) and kept.
import { f32, type Gpu } from '../gpu.js';
import { ROW_OF, workgroupReduce } from './reduce.js';

export interface AttentionDims { batch: number; time: number; heads: number; kvHeads: number; headDim: number }

/**
 * WGSL shared by the kernels of head size dh: the row index of the workgroup, max and sum over the workgroup's 64
 * invocations (a tree in workgroup memory), and `combine`, which sums a private Dh array over the invocations.
 */
function common(dh: number): string {
  const ch = Math.min(dh, 32); // red is 8 KiB at most: within WebGPU's default 16 KiB of workgroup memory
  return /* wgsl */ `
const DH = ${dh}u;
const CH = ${ch}u;
var<workgroup> red: array<f32, ${64 * ch}>; // [invocation][column of a chunk of CH]

${ROW_OF}

${workgroupReduce('wgMax', 'f32', 'max')}
${workgroupReduce('wgSum', 'f32', 'sum')}`;
}

/** WGSL: dst[base + d] = factor * sum over invocations i of weight_i acc_i[d], CH columns at a time. */
function combine(acc: string, weight: string, dst: string, base: string, factor: string): string {
  return /* wgsl */ `
  for (var d0 = 0u; d0 < DH; d0 += CH) {
    for (var j = 0u; j < CH; j++) {
      if (d0 + j < DH) { red[lid * CH + j] = ${acc}[d0 + j] * ${weight}; }
    }
    workgroupBarrier();
    if (lid < CH && d0 + lid < DH) {
      var sum = 0.0;
      for (var i = 0u; i < 64u; i++) { sum += red[i * CH + lid]; }
      ${dst}[${base} + d0 + lid] = sum * ${factor};
    }
    workgroupBarrier();
  }`;
}

// Forward. Workgroup row = (b, t, h) of q (B, T, H, Dh); k, v (B, S, Hkv, Dh). Query t at position startPos + t
// sees keys 0..startPos + t of kv head h / (H / Hkv).
function forwardSource(dh: number): string {
  return /* wgsl */ `${common(dh)}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
struct Params { batch: u32, time: u32, heads: u32, kvHeads: u32, cacheLen: u32, startPos: u32, scale: f32 }
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> qs: array<f32, DH>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg);
  if (row >= p.batch * p.time * p.heads) { return; }
  let h = row % p.heads;
  let t = (row / p.heads) % p.time;
  let b = row / (p.heads * p.time);
  let kvh = h / (p.heads / p.kvHeads);
  let qo = row * DH;
  for (var d = lid; d < DH; d += 64u) { qs[d] = q[qo + d]; }
  workgroupBarrier();
  var m = -1e30; // finite: no key seen yet (exp(m - score) underflows to 0)
  var l = 0.0;
  var acc: array<f32, DH>;
  for (var s = lid; s <= p.startPos + t; s += 64u) {
    let ko = ((b * p.cacheLen + s) * p.kvHeads + kvh) * DH;
    var score = 0.0;
    for (var d = 0u; d < DH; d++) { score += qs[d] * k[ko + d]; }
    score *= p.scale;
    let mNew = max(m, score);
    let c = exp(m - mNew);
    let e = exp(score - mNew);
    l = l * c + e;
    for (var d = 0u; d < DH; d++) { acc[d] = acc[d] * c + e * v[ko + d]; }
    m = mNew;
  }
  // Rescale every invocation to the workgroup's max, then sum.
  let mAll = wgMax(lid, m);
  let w = exp(m - mAll);
  let lAll = wgSum(lid, l * w);
  ${combine('acc', 'w', 'out', 'qo', '(1.0 / lAll)')}
}`;
}

// Backward (S = T, startPos 0), three kernels:
//   stats: per (b, t, h) the row's logsumexp L and D = sum_s p_s dp_s (p_s = exp(scale q.k_s - L), dp_s = dy.v_s)
//   dq:    per (b, t, h): dq = scale sum_s p_s (dp_s - D) k_s
//   dkdv:  per (b, s, kvh): dk_s = scale sum p (dp - D) q, dv_s = sum p dy, over queries t >= s and the heads of
//          the group, so the sum over heads needs no atomics.
const BACKWARD_PARAMS = /* wgsl */ `
struct Params { batch: u32, time: u32, heads: u32, kvHeads: u32, scale: f32 }`;

function statsSource(dh: number): string {
  return /* wgsl */ `${common(dh)}
@group(0) @binding(0) var<storage, read_write> stats: array<f32>; // (B, T, H, 2): L, D
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
${BACKWARD_PARAMS}
@group(0) @binding(5) var<uniform> p: Params;
var<workgroup> qs: array<f32, DH>;
var<workgroup> dys: array<f32, DH>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg);
  if (row >= p.batch * p.time * p.heads) { return; }
  let h = row % p.heads;
  let t = (row / p.heads) % p.time;
  let b = row / (p.heads * p.time);
  let kvh = h / (p.heads / p.kvHeads);
  let qo = row * DH;
  for (var d = lid; d < DH; d += 64u) { qs[d] = q[qo + d]; dys[d] = dy[qo + d]; }
  workgroupBarrier();
  var m = -1e30;
  var l = 0.0; // sum of exp(score - m)
  var a = 0.0; // sum of exp(score - m) dp
  for (var s = lid; s <= t; s += 64u) {
    let ko = ((b * p.time + s) * p.kvHeads + kvh) * DH;
    var score = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < DH; d++) { score += qs[d] * k[ko + d]; dp += dys[d] * v[ko + d]; }
    score *= p.scale;
    let mNew = max(m, score);
    let c = exp(m - mNew);
    let e = exp(score - mNew);
    l = l * c + e;
    a = a * c + e * dp;
    m = mNew;
  }
  let mAll = wgMax(lid, m);
  let w = exp(m - mAll);
  let lAll = wgSum(lid, l * w);
  let aAll = wgSum(lid, a * w);
  if (lid == 0u) {
    stats[2u * row] = mAll + log(lAll);
    stats[2u * row + 1u] = aAll / lAll;
  }
}`;
}

function dqSource(dh: number): string {
  return /* wgsl */ `${common(dh)}
@group(0) @binding(0) var<storage, read_write> dq: array<f32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
${BACKWARD_PARAMS}
@group(0) @binding(6) var<uniform> p: Params;
var<workgroup> qs: array<f32, DH>;
var<workgroup> dys: array<f32, DH>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg);
  if (row >= p.batch * p.time * p.heads) { return; }
  let h = row % p.heads;
  let t = (row / p.heads) % p.time;
  let b = row / (p.heads * p.time);
  let kvh = h / (p.heads / p.kvHeads);
  let qo = row * DH;
  for (var d = lid; d < DH; d += 64u) { qs[d] = q[qo + d]; dys[d] = dy[qo + d]; }
  workgroupBarrier();
  let lse = stats[2u * row];
  let dsum = stats[2u * row + 1u];
  var acc: array<f32, DH>;
  for (var s = lid; s <= t; s += 64u) {
    let ko = ((b * p.time + s) * p.kvHeads + kvh) * DH;
    var score = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < DH; d++) { score += qs[d] * k[ko + d]; dp += dys[d] * v[ko + d]; }
    let ds = exp(score * p.scale - lse) * (dp - dsum);
    for (var d = 0u; d < DH; d++) { acc[d] += ds * k[ko + d]; }
  }
  ${combine('acc', '1.0', 'dq', 'qo', 'p.scale')}
}`;
}

function dkdvSource(dh: number): string {
  return /* wgsl */ `${common(dh)}
@group(0) @binding(0) var<storage, read_write> dk: array<f32>;
@group(0) @binding(1) var<storage, read_write> dv: array<f32>;
@group(0) @binding(2) var<storage, read> q: array<f32>;
@group(0) @binding(3) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read> v: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
${BACKWARD_PARAMS}
@group(0) @binding(7) var<uniform> p: Params;
var<workgroup> ks: array<f32, DH>;
var<workgroup> vs: array<f32, DH>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg); // (b, s, kvh) of k (B, T, Hkv, Dh)
  if (row >= p.batch * p.time * p.kvHeads) { return; }
  let kvh = row % p.kvHeads;
  let s = (row / p.kvHeads) % p.time;
  let b = row / (p.kvHeads * p.time);
  let group = p.heads / p.kvHeads;
  let ko = row * DH;
  for (var d = lid; d < DH; d += 64u) { ks[d] = k[ko + d]; vs[d] = v[ko + d]; }
  workgroupBarrier();
  var dkAcc: array<f32, DH>;
  var dvAcc: array<f32, DH>;
  // Pairs (t, h) with t in s..T-1 and h in kv head kvh's group, strided over the invocations.
  for (var i = lid; i < (p.time - s) * group; i += 64u) {
    let t = s + i / group;
    let r = (b * p.time + t) * p.heads + kvh * group + i % group;
    let qo = r * DH;
    var score = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < DH; d++) { score += q[qo + d] * ks[d]; dp += dy[qo + d] * vs[d]; }
    let pr = exp(score * p.scale - stats[2u * r]);
    let ds = pr * (dp - stats[2u * r + 1u]);
    for (var d = 0u; d < DH; d++) {
      dkAcc[d] += ds * q[qo + d];
      dvAcc[d] += pr * dy[qo + d];
    }
  }
  ${combine('dkAcc', '1.0', 'dk', 'ko', 'p.scale')}
  ${combine('dvAcc', '1.0', 'dv', 'ko', '1.0')}
}`;
}

const sources = new Map<string, string>();
function source(kind: string, dh: number, make: (dh: number) => string): string {
  const key = `${kind}/${dh}`;
  let s = sources.get(key);
  if (s === undefined) sources.set(key, (s = make(dh)));
  return s;
}

/** out (B, T, H, Dh) = causal attention of q (B, T, H, Dh) over the cache k, v (B, S, Hkv, Dh). */
export function attention(gpu: Gpu, out: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims & { cacheLen: number; startPos: number }): void {
  const { batch, time, heads, kvHeads, headDim, cacheLen, startPos } = dims;
  const rows = batch * time * heads;
  if (rows === 0 || headDim === 0) return;
  gpu.dispatch1d(source('forward', headDim, forwardSource), [out, q, k, v], [batch, time, heads, kvHeads, cacheLen, startPos, f32(1 / Math.sqrt(headDim))], rows * 64);
}

/**
 * dq, dk, dv of attention(q, k, v, 0) for the gradient dy, with S = T. The per-row statistics (B, T, H, 2) go
 * through a scratch buffer taken from the pool and given back once the kernels are recorded.
 */
export function attentionBackward(gpu: Gpu, grads: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, dy: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims): void {
  const { batch, time, heads, kvHeads, headDim } = dims;
  const rows = batch * time * heads;
  if (rows === 0 || headDim === 0) return;
  const params = [batch, time, heads, kvHeads, f32(1 / Math.sqrt(headDim))];
  const stats = gpu.alloc(rows * 2 * 4);
  gpu.dispatch1d(source('stats', headDim, statsSource), [stats, q, k, v, dy], params, rows * 64);
  gpu.dispatch1d(source('dq', headDim, dqSource), [grads.dq, q, k, v, dy, stats], params, rows * 64);
  gpu.dispatch1d(source('dkdv', headDim, dkdvSource), [grads.dk, grads.dv, q, k, v, dy, stats], params, batch * time * kvHeads * 64);
  gpu.free(stats); // the dispatches recorded above still run first
}
