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
// work at T = S. dK and dV come per query head and are summed over each kv head's G query heads. The products read
// and write each head of q, k, v, dy and their gradients where it lies in the (B, T, H, Dh) tensor, a (T, Dh)
// matrix whose rows are H Dh apart: no head-major copies.
// A batch whose score matrix is over the limit goes through in chunks of sequences (`batchChunks`): attention with
// dropout takes this path whatever its size (the tiled kernels draw no masks).
import { UnsupportedError } from '../../../core/errors.js';
import { dropoutArgs, type DropoutParams } from '../../cpu/dropout.js';
import { f32, MAX_GROUPS, type Gpu, type Param } from '../gpu.js';
import type { AttentionDims } from './attention.js';
import { HASH32, map } from './elementwise.js';
import { matmul, NN, NT, TILE, TN, type MatmulInputs, type Strided } from './matmul.js';
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

// Dropout of element j of score row `row`, whose mask elements start at row stride (see above): `keeps` says whether
// mask element seedHash + row stride + j keeps it (always, where there is no dropout: threshold 0, dropScale 1), and
// `dropped` gives x times the dropout's scale where kept, else 0.
const DROPPED = /* wgsl */ `${HASH32}
fn keeps(row: u32, j: u32) -> bool {
  return p.threshold == 0u || hash32(p.seedHash + row * p.stride + j) >= p.threshold;
}
fn dropped(x: f32, keep: bool) -> f32 { return select(0.0, x * p.dropScale, keep); }`;
const DROPOUT_PARAMS = 'seedHash: u32, threshold: u32, dropScale: f32, stride: u32';

// Of score row t (the query at startPos + t), the keys j < readKeys are all that the products after the softmax
// read: their k ranges end with the last key of the query's tile of TILE rows (matmul.ts's causal ranges), in k
// steps that divide TILE, so they read to the end of that key's tile of TILE columns at most; the score tiles past
// it are never computed. The softmax kernels leave the rest of the row as it is.
const READ_KEYS = /* wgsl */ `
fn readKeys(t: u32, keys: u32, startPos: u32) -> u32 {
  let lastKey = t / ${TILE}u * ${TILE}u + ${TILE - 1}u + startPos;
  return min(keys, (lastKey / ${TILE}u + 1u) * ${TILE}u);
}`;

// In place, each row (z, t) of s (Z, T, S): p = exp(scale s - m) / l over the keys the query at startPos + t sees
// (0 for the rest, up to readKeys), with m and l its max and sum: an online max and sum per invocation, combined
// over the workgroup (a max, then each sum rescaled to it); then dropped with the mask of the row.
const CAUSAL_SOFTMAX = /* wgsl */ `${ROW_OF}${workgroupReduce('rowMax', 'f32', 'max')}${workgroupReduce('rowSum', 'f32', 'sum')}${DROPPED}${READ_KEYS}
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
  for (var j = lane; j < readKeys(row % p.time, p.keys, p.startPos); j += 64u) {
    s[base + j] = select(0.0, dropped(exp(s[base + j] * p.scale - rowM) / rowL, keeps(row, j)), j < seen);
  }
}`;

// In place, each row t of dp (Z, T, T), the gradient of the dropped probabilities: dp = dropped(dp) (the gradient of
// the probabilities), then ds = scale p (dp - sum_j p_j dp_j), the softmax backward; and prob = dropped(prob), which
// dV then takes; up to readKeys (p is 0 past key t).
const SOFTMAX_BACKWARD = /* wgsl */ `${ROW_OF}${workgroupReduce('rowSum', 'f32', 'sum')}${DROPPED}${READ_KEYS}
@group(0) @binding(0) var<storage, read_write> dp: array<f32>;
@group(0) @binding(1) var<storage, read_write> prob: array<f32>;
struct Params { rows: u32, keys: u32, scale: f32, ${DROPOUT_PARAMS} }
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = rowOf(wg);
  if (row >= p.rows) { return; }
  let base = row * p.keys;
  let t = row % p.keys;
  var dot = 0.0;
  for (var j = lane; j <= t; j += 64u) { dot += prob[base + j] * dropped(dp[base + j], keeps(row, j)); }
  dot = rowSum(lane, dot);
  for (var j = lane; j < readKeys(t, p.keys, 0u); j += 64u) {
    let pj = prob[base + j];
    let keep = keeps(row, j);
    dp[base + j] = p.scale * pj * (dropped(dp[base + j], keep) - dot);
    prob[base + j] = dropped(pj, keep);
  }
}`;

// out[at + i] = sum over g < G of x[(i / size G + g) size + i % size], i < n: with size Dh, gradients per query
// head (B, T, H, Dh) summed over each kv head's G query heads into (B, T, Hkv, Dh).
const GROUP_SUM = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, `let first = (i / p.size * p.groups) * p.size + i % p.size;
  var sum = 0.0;
  for (var g = 0u; g < p.groups; g++) { sum += x[first + g * p.size]; }
  out[p.at + i] = sum;`, 'n: u32, size: u32, groups: u32, at: u32');

/**
 * The kernels' dropout parameters (DROPOUT_PARAMS) for score rows whose mask elements are `stride` apart, the first
 * row's starting at mask element `first`.
 */
function maskParams(drop: DropoutParams | undefined, stride: number, first: number): Param[] {
  const [seedHash, threshold, scale] = dropoutArgs(drop, first);
  return [seedHash, threshold, f32(scale), stride];
}

/**
 * Sequences first.. of a (B, x, heads, d) tensor as the matmul operands of a batch of products, one per (sequence,
 * head): head h of sequence s is the (x, d) matrix at ((first + s) x + t) heads d + h d, row t.
 */
function perHead(first: number, x: number, heads: number, d: number): Strided {
  return { start: first * x * heads * d, sequence: x * heads * d, head: d, row: heads * d };
}

/** The (time, keys) score matrices of Z = B H heads, one after another, as matmul operands. */
function scoreMatrices(heads: number, time: number, keys: number): Strided {
  return { start: 0, sequence: heads * time * keys, head: time * keys, row: keys };
}

/** out (B, T, H, Dh) = causal attention of q over the first startPos + T positions of k, v (B, S, Hkv, Dh). */
export function denseAttention(gpu: Gpu, out: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims & { cacheLen: number; startPos: number }, inputs: MatmulInputs, drop?: DropoutParams): void {
  for (const [first, batch] of batchChunks(gpu, dims, dims.startPos + dims.time)) denseAttentionChunk(gpu, out, q, k, v, { ...dims, batch }, first, inputs, drop);
}

/** denseAttention of sequences first..first+batch-1. */
function denseAttentionChunk(gpu: Gpu, out: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims & { cacheLen: number; startPos: number }, first: number, inputs: MatmulInputs, drop?: DropoutParams): void {
  const { batch, time, heads, kvHeads, headDim: dh, cacheLen, startPos } = dims;
  const keys = startPos + time;
  const queries = perHead(first, time, heads, dh); // q and out
  const cache = perHead(first, cacheLen, kvHeads, dh); // k and v
  const scores = scoreMatrices(heads, time, keys);
  const z = batch * heads;
  const products = { count: z, heads, groupB: heads / kvHeads };
  const s = gpu.alloc(z * time * keys * 4);
  matmul(gpu, s, q, k, time, dh, keys, NT, inputs, { ...products, a: queries, b: cache, out: scores, causal: { kind: 'scores', offset: startPos } });
  gpu.dispatch1d(CAUSAL_SOFTMAX, [s], [z * time, time, keys, startPos, f32(1 / Math.sqrt(dh)), ...maskParams(drop, cacheLen, first * heads * time * cacheLen)], z * time * 64);
  matmul(gpu, out, s, v, time, keys, dh, NN, inputs, { ...products, a: scores, b: cache, out: queries, causal: { kind: 'overKeys', offset: startPos } });
  gpu.free(s); // the commands recorded above still run first
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
  const queries = perHead(first, time, heads, dh); // q, dy and dq
  const keys = perHead(first, time, kvHeads, dh); // k, v, dk and dv
  const scores = scoreMatrices(heads, time, time);
  const products = { count: z, heads, groupB: group };
  const matrices = z * time * time;
  const prob = gpu.alloc(matrices * 4);
  matmul(gpu, prob, q, k, time, dh, time, NT, inputs, { ...products, a: queries, b: keys, out: scores, causal: { kind: 'scores', offset: 0 } });
  gpu.dispatch1d(CAUSAL_SOFTMAX, [prob], [z * time, time, time, 0, f32(scale), ...maskParams(undefined, time, 0)], z * time * 64);
  const ds = gpu.alloc(matrices * 4);
  matmul(gpu, ds, dy, v, time, dh, time, NT, inputs, { ...products, a: queries, b: keys, out: scores, causal: { kind: 'scores', offset: 0 } });
  gpu.dispatch1d(SOFTMAX_BACKWARD, [ds, prob], [z * time, time, f32(scale), ...maskParams(drop, time, first * heads * time * time)], z * time * 64);
  // dQ (B, T, H, Dh) = dS K
  matmul(gpu, grads.dq, ds, k, time, time, dh, NN, inputs, { ...products, a: scores, b: keys, out: queries, causal: { kind: 'overKeys', offset: 0 } });
  // dK = dS^T Q and dV = P^T dO per query head; where G > 1, into (batch, T, H, Dh) first, then summed over each kv
  // head's G query heads.
  const perQueryHead = { count: z, heads, groupB: 1, a: scores, b: queries, causal: { kind: 'overQueries', offset: 0 } } as const;
  for (const [lhs, rhs, grad] of [[ds, q, grads.dk], [prob, dy, grads.dv]] as const) {
    if (group === 1) {
      matmul(gpu, grad, lhs, rhs, time, time, dh, TN, inputs, { ...perQueryHead, out: keys });
      continue;
    }
    const byQueryHead = gpu.alloc(z * time * dh * 4);
    matmul(gpu, byQueryHead, lhs, rhs, time, time, dh, TN, inputs, { ...perQueryHead, out: perHead(0, time, heads, dh) });
    const n = batch * time * kvHeads * dh;
    gpu.dispatch1d(GROUP_SUM, [grad, byQueryHead], [n, dh, group, keys.start], n);
    gpu.free(byQueryHead); // the commands recorded above still run first
  }
  for (const b of [prob, ds]) gpu.free(b);
}
