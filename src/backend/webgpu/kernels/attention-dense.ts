// Causal attention through its score matrix, for prefill and training where the matrix fits (`denseFits`): the
// products run on the mat-mul kernels (matmul.ts: register-tiled, or tensor cores in mixed precision) as a batch,
// one product per (batch, head), and only the softmax and its backward are kernels of their own. This does more
// memory traffic than the tiled kernels of attention.ts (S is written and read a few times), but the products run
// at mat-mul speed. With Z = B H query heads, G = H / Hkv query heads per kv head:
//   forward:  S (Z, T, S) = Q K^T;  P = causal softmax(scale S);  O = P V
//   backward (S recomputed): dP = dO V^T;  dS = scale P (dP - rowsum(P dP));  dQ = dS K;  dK = dS^T Q;  dV = P^T dO
// where rowsum(P dP) = rowsum(dO O), the softmax backward's row term, needs no O. With dropout (training), P' =
// dropout(P) takes P's place in O = P' V and dV = P'^T dO, and dP is the gradient through the mask, dropout(dO V^T).
// Element (z, t, s) of the scores takes mask element (z T + t) S + s (cpu/dropout.ts's probabilityIndex, z = b H +
// h). The products skip the tiles and k ranges that the causal mask zeroes (matmul.ts's CAUSAL), about half of the
// work at T = S. dK and dV come per query head and are summed over each kv head's G query heads. The products want
// each head's rows contiguous, so q, k, v and dy are first copied head-major, (B, T, H, Dh) -> (B, H, T, Dh), and
// the results copied back.
// A batch whose score matrix is over the limit goes through in chunks of sequences (`batchChunks`): attention with
// dropout takes this path whatever its size (the tiled kernels draw no masks).
import { UnsupportedError } from '../../../core/errors.js';
import { dropoutArgs, type DropoutParams } from '../../cpu/dropout.js';
import { f32, MAX_GROUPS, type Gpu, type Param } from '../gpu.js';
import type { AttentionDims } from './attention.js';
import { HASH32, map } from './elementwise.js';
import { matmul, NN, NT, TN, type MatmulInputs } from './matmul.js';
import { ROW_OF, workgroupReduce } from './reduce.js';

/** The largest score matrix (bytes) the dense path makes; a test may lower it to take the tiled kernels. */
export const denseAttentionLimit = { bytes: 2 ** 30 };

/** Whether a score matrix of `scores` elements fits the limit and one binding. */
export function denseFits(gpu: Gpu, scores: number): boolean {
  return scores * 4 <= Math.min(denseAttentionLimit.bytes, gpu.maxBinding);
}

/**
 * [first sequence, count] of the chunks of the batch whose score matrices fit (denseFits) and whose products, one a
 * head, fit one dispatch (a workgroup layer each); an UnsupportedError where one sequence's matrix does not fit.
 */
function batchChunks(gpu: Gpu, { batch, time, heads }: AttentionDims, keys: number): [number, number][] {
  const bytes = heads * time * keys * 4; // one sequence's score matrix
  const limit = Math.min(denseAttentionLimit.bytes, gpu.maxBinding);
  const chunk = Math.min(batch, Math.floor(MAX_GROUPS / heads), Math.floor(limit / bytes));
  if (chunk === 0) {
    throw new UnsupportedError('webgpu attention', 'dense path', `a score matrix of ${bytes} bytes for one sequence (${heads} heads x ${time} x ${keys}), over the dense path's ${limit}, with dropout on the probabilities`);
  }
  return Array.from({ length: Math.ceil(batch / chunk) }, (_, i) => [i * chunk, Math.min(chunk, batch - i * chunk)]);
}

// out (B, P, Q, D) [b, p, q, d] = in (B, QIN, P, D) [b, q, p, d] for q < Q: axes 1 and 2 swapped, and of in's axis 1
// only the first Q. Position-major (B, T, H, Dh) to head-major (B, H, T, Dh) and back. in starts at element inAt of
// x and out at element outAt of out (a chunk of the batch).
const SWAP_AXES = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, `let d = i % p.d;
  let qi = i / p.d % p.q;
  let pi = i / (p.d * p.q) % p.p;
  let b = i / (p.d * p.q * p.p);
  out[p.outAt + i] = x[p.inAt + ((b * p.qIn + qi) * p.p + pi) * p.d + d];`, 'n: u32, qIn: u32, p: u32, q: u32, d: u32, inAt: u32, outAt: u32');

// Dropout of element j of score row `row`, whose mask elements start at row stride (see above): `keeps` says whether
// mask element seedHash + row stride + j keeps it (always, where there is no dropout: threshold 0, dropScale 1), and
// `dropped` gives x times the dropout's scale where kept, else 0.
const DROPPED = /* wgsl */ `${HASH32}
fn keeps(row: u32, j: u32) -> bool {
  return p.threshold == 0u || hash32(p.seedHash + row * p.stride + j) >= p.threshold;
}
fn dropped(x: f32, keep: bool) -> f32 { return select(0.0, x * p.dropScale, keep); }`;
const DROPOUT_PARAMS = 'seedHash: u32, threshold: u32, dropScale: f32, stride: u32';

// In place, each row (z, t) of s (Z, T, S): p = exp(scale s - m) / l over the keys the query at startPos + t sees
// (0 for the rest), with m and l its max and sum: an online max and sum per invocation, combined over the
// workgroup (a max, then each sum rescaled to it); then dropped with the mask of the row.
const CAUSAL_SOFTMAX = /* wgsl */ `${ROW_OF}${workgroupReduce('rowMax', 'f32', 'max')}${workgroupReduce('rowSum', 'f32', 'sum')}${DROPPED}
@group(0) @binding(0) var<storage, read_write> s: array<f32>;
struct Params { rows: u32, time: u32, keys: u32, startPos: u32, scale: f32, ${DROPOUT_PARAMS} }
@group(0) @binding(1) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = rowOf(wg);
  if (row >= p.rows) { return; }
  let base = row * p.keys;
  let seen = min(p.keys, p.startPos + row % p.time + 1u);
  var m = -0x1.fffffep+127f;
  var l = 0.0;
  for (var j = lane; j < seen; j += 64u) {
    let x = s[base + j] * p.scale;
    let grown = max(m, x);
    l = l * exp(m - grown) + exp(x - grown);
    m = grown;
  }
  let rowM = rowMax(lane, m);
  let rowL = rowSum(lane, l * exp(m - rowM));
  for (var j = lane; j < p.keys; j += 64u) {
    s[base + j] = select(0.0, dropped(exp(s[base + j] * p.scale - rowM) / rowL, keeps(row, j)), j < seen);
  }
}`;

// In place, each row of dp (Z, T, S), the gradient of the dropped probabilities: dp = dropped(dp) (the gradient of
// the probabilities), then ds = scale p (dp - sum_j p_j dp_j), the softmax backward; and prob = dropped(prob), which
// dV then takes.
const SOFTMAX_BACKWARD = /* wgsl */ `${ROW_OF}${workgroupReduce('rowSum', 'f32', 'sum')}${DROPPED}
@group(0) @binding(0) var<storage, read_write> dp: array<f32>;
@group(0) @binding(1) var<storage, read_write> prob: array<f32>;
struct Params { rows: u32, keys: u32, scale: f32, ${DROPOUT_PARAMS} }
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = rowOf(wg);
  if (row >= p.rows) { return; }
  let base = row * p.keys;
  var dot = 0.0;
  for (var j = lane; j < p.keys; j += 64u) { dot += prob[base + j] * dropped(dp[base + j], keeps(row, j)); }
  dot = rowSum(lane, dot);
  for (var j = lane; j < p.keys; j += 64u) {
    let pj = prob[base + j];
    let keep = keeps(row, j);
    dp[base + j] = p.scale * pj * (dropped(dp[base + j], keep) - dot);
    prob[base + j] = dropped(pj, keep);
  }
}`;

// out[zk, i] = sum over g < G of x[zk G + g, i], i < size: per-query-head gradients summed per kv head.
const GROUP_SUM = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, `let first = (i / p.size * p.groups) * p.size + i % p.size;
  var sum = 0.0;
  for (var g = 0u; g < p.groups; g++) { sum += x[first + g * p.size]; }
  out[i] = sum;`, 'n: u32, size: u32, groups: u32');

/**
 * The kernels' dropout parameters (DROPOUT_PARAMS) for score rows whose mask elements are `stride` apart, the first
 * row's starting at mask element `first`.
 */
function maskParams(drop: DropoutParams | undefined, stride: number, first: number): Param[] {
  const [seedHash, threshold, scale] = dropoutArgs(drop, first);
  return [seedHash, threshold, f32(scale), stride];
}

/** Sequences first..first+batch-1 of t (B, xIn, heads, d) -> a new (batch, heads, x, d) buffer of their first x positions. */
function toHeads(gpu: Gpu, t: GPUBuffer, first: number, batch: number, xIn: number, x: number, heads: number, d: number): GPUBuffer {
  const n = batch * x * heads * d;
  const out = gpu.alloc(n * 4);
  gpu.dispatch1d(SWAP_AXES, [out, t], [n, xIn, heads, x, d, first * xIn * heads * d, 0], n);
  return out;
}

/** Sequences first..first+batch-1 of out (B, x, heads, d) = t (batch, heads, x, d). */
function fromHeads(gpu: Gpu, out: GPUBuffer, t: GPUBuffer, first: number, batch: number, x: number, heads: number, d: number): void {
  const n = batch * x * heads * d;
  gpu.dispatch1d(SWAP_AXES, [out, t], [n, heads, x, heads, d, 0, first * x * heads * d], n);
}

/** out (B, T, H, Dh) = causal attention of q over the first startPos + T positions of k, v (B, S, Hkv, Dh). */
export function denseAttention(gpu: Gpu, out: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims & { cacheLen: number; startPos: number }, inputs: MatmulInputs, drop?: DropoutParams): void {
  for (const [first, batch] of batchChunks(gpu, dims, dims.startPos + dims.time)) denseAttentionChunk(gpu, out, q, k, v, { ...dims, batch }, first, inputs, drop);
}

/** denseAttention of sequences first..first+batch-1. */
function denseAttentionChunk(gpu: Gpu, out: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims & { cacheLen: number; startPos: number }, first: number, inputs: MatmulInputs, drop?: DropoutParams): void {
  const { batch, time, heads, kvHeads, headDim: dh, cacheLen, startPos } = dims;
  const keys = startPos + time;
  const z = batch * heads;
  const group = heads / kvHeads;
  const qh = toHeads(gpu, q, first, batch, time, time, heads, dh);
  const kh = toHeads(gpu, k, first, batch, cacheLen, keys, kvHeads, dh);
  const vh = toHeads(gpu, v, first, batch, cacheLen, keys, kvHeads, dh);
  const s = gpu.alloc(z * time * keys * 4);
  matmul(gpu, s, qh, kh, time, dh, keys, NT, inputs, { count: z, strideA: time * dh, strideB: keys * dh, strideOut: time * keys, groupB: group, causal: { kind: 'scores', offset: startPos } });
  gpu.dispatch1d(CAUSAL_SOFTMAX, [s], [z * time, time, keys, startPos, f32(1 / Math.sqrt(dh)), ...maskParams(drop, cacheLen, first * heads * time * cacheLen)], z * time * 64);
  const oh = gpu.alloc(z * time * dh * 4);
  matmul(gpu, oh, s, vh, time, keys, dh, NN, inputs, { count: z, strideA: time * keys, strideB: keys * dh, strideOut: time * dh, groupB: group, causal: { kind: 'overKeys', offset: startPos } });
  fromHeads(gpu, out, oh, first, batch, time, heads, dh);
  for (const b of [qh, kh, vh, s, oh]) gpu.free(b); // the commands recorded above still run first
}

/** dq, dk, dv of attention(q, k, v, 0) for the gradient dy (S = T), through the score matrix. */
export function denseAttentionBackward(gpu: Gpu, grads: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, dy: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims, inputs: MatmulInputs, drop?: DropoutParams): void {
  for (const [first, batch] of batchChunks(gpu, dims, dims.time)) denseAttentionBackwardChunk(gpu, grads, dy, q, k, v, { ...dims, batch }, first, inputs, drop);
}

/** denseAttentionBackward of sequences first..first+batch-1. */
function denseAttentionBackwardChunk(gpu: Gpu, grads: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, dy: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims, first: number, inputs: MatmulInputs, drop?: DropoutParams): void {
  const { batch, time, heads, kvHeads, headDim: dh } = dims;
  const z = batch * heads;
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(dh);
  const [qh, doh] = [q, dy].map((t) => toHeads(gpu, t, first, batch, time, time, heads, dh)) as [GPUBuffer, GPUBuffer];
  const [kh, vh] = [k, v].map((t) => toHeads(gpu, t, first, batch, time, time, kvHeads, dh)) as [GPUBuffer, GPUBuffer];
  const scores = z * time * time;
  const perHead = { count: z, strideA: time * dh, strideB: time * dh, strideOut: time * time, groupB: group, causal: { kind: 'scores', offset: 0 } } as const;
  const prob = gpu.alloc(scores * 4);
  matmul(gpu, prob, qh, kh, time, dh, time, NT, inputs, perHead);
  gpu.dispatch1d(CAUSAL_SOFTMAX, [prob], [z * time, time, time, 0, f32(scale), ...maskParams(undefined, time, 0)], z * time * 64);
  const ds = gpu.alloc(scores * 4);
  matmul(gpu, ds, doh, vh, time, dh, time, NT, inputs, perHead);
  gpu.dispatch1d(SOFTMAX_BACKWARD, [ds, prob], [z * time, time, f32(scale), ...maskParams(drop, time, first * heads * time * time)], z * time * 64);
  // dQ (Z, T, Dh) = dS K
  const dqh = gpu.alloc(z * time * dh * 4);
  matmul(gpu, dqh, ds, kh, time, time, dh, NN, inputs, { count: z, strideA: time * time, strideB: time * dh, strideOut: time * dh, groupB: group, causal: { kind: 'overKeys', offset: 0 } });
  fromHeads(gpu, grads.dq, dqh, first, batch, time, heads, dh);
  // dK = dS^T Q and dV = P^T dO per query head (Z, T, Dh), then summed over each kv head's group.
  const perQueryHead = { count: z, strideA: time * time, strideB: time * dh, strideOut: time * dh, groupB: 1, causal: { kind: 'overQueries', offset: 0 } } as const;
  const kvSize = batch * kvHeads * time * dh;
  for (const [lhs, rhs, grad] of [[ds, qh, grads.dk], [prob, doh, grads.dv]] as const) {
    const byQueryHead = gpu.alloc(z * time * dh * 4);
    matmul(gpu, byQueryHead, lhs, rhs, time, time, dh, TN, inputs, perQueryHead);
    let summed = byQueryHead;
    if (group > 1) {
      summed = gpu.alloc(kvSize * 4);
      gpu.dispatch1d(GROUP_SUM, [summed, byQueryHead], [kvSize, time * dh, group], kvSize);
      gpu.free(byQueryHead);
    }
    fromHeads(gpu, grad, summed, first, batch, time, kvHeads, dh);
    gpu.free(summed);
  }
  for (const b of [qh, doh, kh, vh, prob, ds, dqh]) gpu.free(b);
}
