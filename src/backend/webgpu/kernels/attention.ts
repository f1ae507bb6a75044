// Causal grouped-query attention, forward and backward, with the math of cpu/attention.ts. Two families of kernels,
// both generated per head size Dh (private arrays need a constant length) and kept:
//
// Tiled (FlashAttention-style), for prefill and training when Dh allows (see `tiling`): a workgroup takes a block of
// rows of one (batch, head) and loops over blocks of the other side staged in workgroup memory, so each K/V (or Q/dY)
// row is read from global memory once per block of rows rather than once per row. A row is split over P
// invocations, each owning every P-th vec4 of it (32 columns at most, so that q, the accumulators and the like stay
// in registers; interleaved so the P owners of a row hit different banks); a dot product over a row is P partial
// sums that meet in workgroup memory and are added in a fixed order by each owner, so all owners agree exactly.
//   forward (and the backward's stats): 64 queries x the keys, BK keys a step, online softmax per query with one
//     rescale per step; key steps past the block's last query are skipped.
//   dq:   64 queries x the keys, BK keys a step.
//   dkdv: 64 keys of one kv head x the queries of its group's heads at or after the block, BQ queries a step.
// Workgroup memory stays within WebGPU's default 16 KiB; no atomics, every sum in a fixed order: deterministic.
//
// Per row (the fallback: decode and other short queries, and head sizes the tiled kernels do not take): one 64-wide
// workgroup per output row, no T x S score matrix, any cache length. The forward scores 64 keys at a time, one an
// invocation, and adds their weighted values in groups of lanes, a column each (see forwardSource). The backward's
// invocations take a strided share of the keys (or, for dk/dv, of the queries reading a key), each with an online
// softmax (running max m, sum l, and a private Dh accumulator rescaled when m grows), and combine through workgroup
// memory in a fixed order.
import type { DropoutParams } from '../../cpu/dropout.js';
import { f32, MAX_GROUPS, type Gpu } from '../gpu.js';
import { denseAttention, denseAttentionBackward, denseFits } from './attention-dense.js';
import { flashAttention, flashAttentionBackward, flashFits } from './attention-flash.js';
import type { MatmulInputs } from './matmul.js';
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

// Forward, one workgroup per query row (b, t, h) of q (B, T, H, Dh); k, v (B, S, Hkv, Dh). Query t at position
// startPos + t sees keys 0..startPos + t of kv head h / (H / Hkv). The keys go in chunks of 64, and a chunk in two
// phases, each of whose loads are issued together (loops of constant trip counts, unrolled), so that a chunk waits
// on memory about twice rather than once per key:
//   scores:  invocation i scores key c0 + i (q staged in workgroup memory; q . k in vec4s where Dh allows); every
//            invocation then reads the chunk's max from workgroup memory, and each key's owner turns its score into
//            the weight exp(score - max);
//   values:  the invocations form G groups of C lanes (C columns of a v row: vec4s where Dh allows), and group g adds
//            the weighted v rows of keys c0 + g, c0 + g + G, ... into its lanes' accumulators (neighbouring lanes
//            read neighbouring columns).
// Every invocation reads all 64 scores in the same order, so the running max m agrees across the workgroup; each
// group keeps its own sum of weights l and its accumulators, and the G groups are added at the end in a fixed order:
// deterministic.
function forwardSource(dh: number): string {
  const w = dh % 4 === 0 ? 4 : 1; // elements per load of q, k and v
  const vec = w === 4 ? 'vec4f' : 'f32';
  const dw = dh / w; // loads a row
  const lanes = Math.min(64, 2 ** Math.ceil(Math.log2(dw))); // C: lanes of a group, one column (or more) each
  const groups = 64 / lanes; // G
  const cols = [...Array(Math.ceil(dw / lanes)).keys()]; // a lane's columns c + C j
  const each = (f: (j: number) => string) => cols.map(f).join('\n');
  const column = (j: number) => `c + ${lanes * j}u`;
  const kv0 = 'let kv0 = (b * p.cacheLen + s) * p.kvHeads + kvh; // key s\'s row of k and v';
  return /* wgsl */ `
const DW = ${dw}u; // a row of q, k or v in loads of ${w}
const C = ${lanes}u; // lanes of a group
const G = ${groups}u; // groups
${ROW_OF}
@group(0) @binding(0) var<storage, read_write> out: array<${vec}>;
@group(0) @binding(1) var<storage, read> q: array<${vec}>;
@group(0) @binding(2) var<storage, read> k: array<${vec}>;
@group(0) @binding(3) var<storage, read> v: array<${vec}>;
struct Params { batch: u32, time: u32, heads: u32, kvHeads: u32, cacheLen: u32, startPos: u32, scale: f32 }
@group(0) @binding(4) var<uniform> p: Params;
var<workgroup> qs: array<${vec}, DW>;
var<workgroup> scores: array<f32, 64>;
var<workgroup> weights: array<f32, 64>;
var<workgroup> groupSums: array<${vec}, 64>; // [group][lane], at the end
var<workgroup> groupL: array<f32, G>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = rowOf(wg);
  if (row >= p.batch * p.time * p.heads) { return; }
  let h = row % p.heads;
  let t = (row / p.heads) % p.time;
  let b = row / (p.heads * p.time);
  let kvh = h / (p.heads / p.kvHeads);
  let keys = p.startPos + t + 1u;
  for (var e = lid; e < DW; e += 64u) { qs[e] = q[row * DW + e]; }
  workgroupBarrier();
  let g = lid / C;
  let c = lid % C;
  var m = -1e30; // finite: no key seen yet (exp(m - score) underflows to 0)
  var l = 0.0; // this group's sum of weights
${each((j) => `  var acc${j} = ${vec}(0.0);`)}
  for (var c0 = 0u; c0 < keys; c0 += 64u) {
    let n = min(64u, keys - c0);
    var score = -1e30;
    if (lid < n) {
      let s = c0 + lid;
      ${kv0}
      var qk = ${vec}(0.0);
      for (var e = 0u; e < DW; e++) { qk += qs[e] * k[kv0 * DW + e]; }
      score = ${w === 4 ? 'dot(qk, vec4f(1.0))' : 'qk'} * p.scale;
    }
    scores[lid] = score;
    workgroupBarrier();
    var mNew = m;
    for (var j = 0u; j < 64u; j++) { mNew = max(mNew, scores[j]); }
    let rescale = exp(m - mNew);
    m = mNew;
    weights[lid] = exp(score - mNew); // 0 past the keys
    workgroupBarrier();
    l *= rescale;
${each((j) => `    acc${j} *= rescale;`)}
    for (var i = 0u; i < 64u / G; i++) {
      let s = c0 + min(g + i * G, n - 1u); // a key past the last has weight 0: read the last key's row instead
      let wi = weights[g + i * G];
      l += wi;
      ${kv0}
${each((j) => `      if (${column(j)} < DW) { acc${j} += wi * v[kv0 * DW + ${column(j)}]; }`)}
    }
  }
  // The groups' sums, added in order.
  if (c == 0u) { groupL[g] = l; }
${each((j) => `  workgroupBarrier();
  groupSums[lid] = acc${j};
  workgroupBarrier();
  if (g == 0u && ${column(j)} < DW) {
    var sum = groupSums[c];
    var lAll = groupL[0];
    for (var e = 1u; e < G; e++) { sum += groupSums[e * C + c]; lAll += groupL[e]; }
    out[row * DW + ${column(j)}] = sum / lAll;
  }`)}
}`;
}

// Backward (S = T, startPos 0), three kernels:
//   stats: per (b, t, h) the row's logsumexp L and D = sum_s p_s dp_s (p_s = exp(scale q.k_s - L), dp_s = dy.v_s)
//   dq:    per (b, t, h): dq = scale sum_s p_s (dp_s - D) k_s
//   dkdv:  per (b, s, kvh): dk_s = scale sum p (dp - D) q, dv_s = sum p dy, over queries t >= s and the heads of
//          the group, so the sum over heads needs no atomics.
const BACKWARD_PARAMS = /* wgsl */ `
struct Params { batch: u32, time: u32, heads: u32, kvHeads: u32, scale: f32 }`;

/**
 * WGSL after the bindings of the per-row stats and dq kernels: scoreDp (q.k_s and dy.v_s of the staged row), then
 * main's start: the workgroup's query row (b, t, h) and kv head, with q and dy of the row staged in workgroup memory.
 */
const QUERY_ROW = /* wgsl */ `
var<workgroup> qs: array<f32, DH>;
var<workgroup> dys: array<f32, DH>;

fn scoreDp(b: u32, s: u32, kvh: u32) -> vec2f {
  let ko = ((b * p.time + s) * p.kvHeads + kvh) * DH;
  var sd = vec2f(0.0);
  for (var d = 0u; d < DH; d++) { sd += vec2f(qs[d] * k[ko + d], dys[d] * v[ko + d]); }
  return sd;
}

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
  workgroupBarrier();`;

function statsSource(dh: number): string {
  return /* wgsl */ `${common(dh)}
@group(0) @binding(0) var<storage, read_write> stats: array<f32>; // (B, T, H, 2): L, D
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
${BACKWARD_PARAMS}
@group(0) @binding(5) var<uniform> p: Params;
${QUERY_ROW}
  var m = -1e30;
  var l = 0.0; // sum of exp(score - m)
  var a = 0.0; // sum of exp(score - m) dp
  for (var s = lid; s <= t; s += 64u) {
    let sd = scoreDp(b, s, kvh);
    let score = sd.x * p.scale;
    let dp = sd.y;
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
${QUERY_ROW}
  let lse = stats[2u * row];
  let dsum = stats[2u * row + 1u];
  var acc: array<f32, DH>;
  for (var s = lid; s <= t; s += 64u) {
    let sd = scoreDp(b, s, kvh);
    let ds = exp(sd.x * p.scale - lse) * (sd.y - dsum);
    let ko = ((b * p.time + s) * p.kvHeads + kvh) * DH;
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

// ---- tiled kernels ----

const WG_BYTES = 16384; // WebGPU's default maxComputeWorkgroupStorageSize
const ROWS = 64; // queries per workgroup (forward, dq) and keys per workgroup (dkdv)

/** The largest power of two up to 64 with n * bytesPer <= WG_BYTES. */
function fit(bytesPer: number): number {
  let n = 64;
  while (n > 1 && n * bytesPer > WG_BYTES) n /= 2;
  return n;
}

/**
 * How the tiled kernels split head size dh, or undefined where they do not apply: P invocations per row, each owning
 * G = dh / 4 / P vec4s (at most 8: 32 columns); 64 rows per workgroup, so 64 P <= 256 invocations and dh <= 128.
 * bk: keys per step of the forward and dq (K, V tiles and the partial sums in workgroup memory); bq: queries per step
 * of dkdv (Q, dY tiles, their L and D, and the partial sums).
 */
interface Tiling { p: number; g: number; bk: number; bkDq: number; bq: number }
function tiling(dh: number): Tiling | undefined {
  if (dh % 4 !== 0 || dh > 128) return undefined;
  for (let p = Math.max(1, Math.ceil(dh / 32)); p <= 4; p++) {
    if ((dh / 4) % p !== 0) continue;
    const nt = ROWS * p;
    return {
      p,
      g: dh / 4 / p,
      bk: fit(8 * dh + 4 * nt), // K, V rows + one partial per invocation, per key
      bkDq: fit(8 * dh + 8 * nt), // K, V rows + two partials (score, dp) per invocation, per key
      bq: fit(8 * dh + 8 + 8 * nt), // Q, dY rows, L and D + two partials per invocation, per query
    };
  }
  return undefined;
}

/** WGSL constants and helpers of a tiling; `row(i)`: the vec4 index within a staged row of invocation part c's g-th vec4. */
function tiledCommon(dh: number, t: Tiling): string {
  return /* wgsl */ `
const DH4 = ${dh / 4}u; // vec4s per row
const P = ${t.p}u; // invocations per row; part c owns vec4s c, c + P, ...
const G = ${t.g}u; // vec4s per invocation
const ROWS = ${ROWS}u; // rows per workgroup
const NT = ${ROWS * t.p}u; // invocations per workgroup`;
}

// Forward: workgroup (x: query block, heaviest first; y: b * H + h); invocation (i = lid / P, c = lid % P) owns
// query t0 + i's vec4s c, c + P, ... With `stats`, writes the backward's per-row (L, D) instead of out, where
// L = logsumexp of the scaled scores and D = dy.out.
function tiledForwardSource(dh: number, stats: boolean): string {
  const t = tiling(dh)!;
  const outputs = stats
    ? `@group(0) @binding(0) var<storage, read_write> stats: array<f32>; // (B, T, H, 2): L, D
@group(0) @binding(4) var<storage, read> dy: array<vec4f>;`
    : `@group(0) @binding(0) var<storage, read_write> out: array<vec4f>;`;
  const finish = stats
    ? `  var dd = 0.0;
  for (var g = 0u; g < G; g++) { dd += dot(dy[qo + g * P + c], acc[g]); }
  part[lid] = dd / l;
  workgroupBarrier();
  if (valid && c == 0u) {
    var dsum = 0.0;
    for (var e = 0u; e < P; e++) { dsum += part[i * P + e]; }
    let row = (b * p.time + t) * p.heads + h;
    stats[2u * row] = m + log(l);
    stats[2u * row + 1u] = dsum;
  }`
    : `  if (valid) {
    for (var g = 0u; g < G; g++) { out[qo + g * P + c] = acc[g] * (1.0 / l); }
  }`;
  return /* wgsl */ `${tiledCommon(dh, t)}
const BK = ${t.bk}u; // keys per step
${outputs}
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
struct Params { batch: u32, time: u32, heads: u32, kvHeads: u32, cacheLen: u32, startPos: u32, scale: f32 }
@group(0) @binding(${stats ? 5 : 4}) var<uniform> p: Params;
var<workgroup> ks: array<vec4f, ${t.bk * (dh / 4)}>; // [key][vec4]
var<workgroup> vs: array<vec4f, ${t.bk * (dh / 4)}>;
var<workgroup> part: array<f32, ${t.bk * ROWS * t.p}>; // [key][invocation]: partial scores

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t0 = ((p.time + ROWS - 1u) / ROWS - 1u - wg.x) * ROWS; // late blocks (the most keys) first
  let h = wg.y % p.heads;
  let b = wg.y / p.heads;
  let kvh = h / (p.heads / p.kvHeads);
  let i = lid / P;
  let c = lid % P;
  let t = t0 + i;
  let valid = t < p.time; // rows past the end compute on a clamped copy and store nothing
  let qo = ((b * p.time + min(t, p.time - 1u)) * p.heads + h) * DH4;
  let pos = p.startPos + t; // sees keys 0..pos
  var qr: array<vec4f, G>;
  for (var g = 0u; g < G; g++) { qr[g] = q[qo + g * P + c]; }
  var m = -1e30; // finite: no key seen yet (exp(m - score) underflows to 0)
  var l = 0.0;
  var acc: array<vec4f, G>;
  let last = p.startPos + min(t0 + ROWS, p.time) - 1u; // the block's last query sees keys up to here
  for (var s0 = 0u; s0 <= last; s0 += BK) {
    for (var e = lid; e < BK * DH4; e += NT) {
      let s = s0 + e / DH4;
      let ko = ((b * p.cacheLen + min(s, p.cacheLen - 1u)) * p.kvHeads + kvh) * DH4 + e % DH4;
      ks[e] = k[ko];
      vs[e] = v[ko];
    }
    workgroupBarrier();
    for (var j = 0u; j < BK; j++) {
      var sum = 0.0;
      for (var g = 0u; g < G; g++) { sum += dot(qr[g], ks[j * DH4 + g * P + c]); }
      part[j * NT + lid] = sum;
    }
    workgroupBarrier();
    // Scores of this step (the P partials added in order); one rescale of l and acc per step.
    let n = min(BK, pos + 1u - min(pos + 1u, s0)); // keys of the step this query sees
    var mNew = m;
    for (var j = 0u; j < n; j++) { mNew = max(mNew, score(j, i)); }
    let corr = exp(m - mNew);
    l *= corr;
    for (var g = 0u; g < G; g++) { acc[g] *= corr; }
    for (var j = 0u; j < n; j++) {
      let e = exp(score(j, i) - mNew);
      l += e;
      for (var g = 0u; g < G; g++) { acc[g] += e * vs[j * DH4 + g * P + c]; }
    }
    m = mNew;
    workgroupBarrier(); // before the next step overwrites ks, vs, part
  }
${finish}
}

fn score(j: u32, i: u32) -> f32 {
  var s = 0.0;
  for (var e = 0u; e < P; e++) { s += part[j * NT + i * P + e]; }
  return s * p.scale;
}`;
}

// dq = scale sum_s p_s (dp_s - D) k_s. Workgroup (x: query block, heaviest first; y: b * H + h); invocation
// (i, c) owns query t0 + i's vec4s c, c + P, ... of q, dy and dq.
function tiledDqSource(dh: number): string {
  const t = tiling(dh)!;
  return /* wgsl */ `${tiledCommon(dh, t)}
const BK = ${t.bkDq}u; // keys per step
@group(0) @binding(0) var<storage, read_write> dq: array<vec4f>;
@group(0) @binding(1) var<storage, read> q: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<vec4f>;
@group(0) @binding(3) var<storage, read> v: array<vec4f>;
@group(0) @binding(4) var<storage, read> dy: array<vec4f>;
@group(0) @binding(5) var<storage, read> stats: array<f32>;
${BACKWARD_PARAMS}
@group(0) @binding(6) var<uniform> p: Params;
var<workgroup> ks: array<vec4f, ${t.bkDq * (dh / 4)}>; // [key][vec4]
var<workgroup> vs: array<vec4f, ${t.bkDq * (dh / 4)}>;
var<workgroup> sPart: array<f32, ${t.bkDq * ROWS * t.p}>; // [key][invocation]: partial q.k
var<workgroup> dpPart: array<f32, ${t.bkDq * ROWS * t.p}>; // [key][invocation]: partial dy.v

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t0 = ((p.time + ROWS - 1u) / ROWS - 1u - wg.x) * ROWS;
  let h = wg.y % p.heads;
  let b = wg.y / p.heads;
  let kvh = h / (p.heads / p.kvHeads);
  let i = lid / P;
  let c = lid % P;
  let t = t0 + i;
  let row = (b * p.time + min(t, p.time - 1u)) * p.heads + h;
  let qo = row * DH4;
  var qr: array<vec4f, G>;
  var dyr: array<vec4f, G>;
  for (var g = 0u; g < G; g++) { qr[g] = q[qo + g * P + c]; dyr[g] = dy[qo + g * P + c]; }
  let lse = stats[2u * row];
  let dsum = stats[2u * row + 1u];
  var acc: array<vec4f, G>;
  let last = min(t0 + ROWS, p.time) - 1u;
  for (var s0 = 0u; s0 <= last; s0 += BK) {
    for (var e = lid; e < BK * DH4; e += NT) {
      let ko = ((b * p.time + min(s0 + e / DH4, p.time - 1u)) * p.kvHeads + kvh) * DH4 + e % DH4;
      ks[e] = k[ko];
      vs[e] = v[ko];
    }
    workgroupBarrier();
    for (var j = 0u; j < BK; j++) {
      var sc = 0.0;
      var dp = 0.0;
      for (var g = 0u; g < G; g++) {
        sc += dot(qr[g], ks[j * DH4 + g * P + c]);
        dp += dot(dyr[g], vs[j * DH4 + g * P + c]);
      }
      sPart[j * NT + lid] = sc;
      dpPart[j * NT + lid] = dp;
    }
    workgroupBarrier();
    let n = min(BK, t + 1u - min(t + 1u, s0)); // keys of the step query t sees
    for (var j = 0u; j < n; j++) {
      var sc = 0.0;
      var dp = 0.0;
      for (var e = 0u; e < P; e++) { sc += sPart[j * NT + i * P + e]; dp += dpPart[j * NT + i * P + e]; }
      let ds = exp(sc * p.scale - lse) * (dp - dsum);
      for (var g = 0u; g < G; g++) { acc[g] += ds * ks[j * DH4 + g * P + c]; }
    }
    workgroupBarrier();
  }
  if (t < p.time) {
    for (var g = 0u; g < G; g++) { dq[qo + g * P + c] = acc[g] * p.scale; }
  }
}`;
}

// dk_s = scale sum p (dp - D) q, dv_s = sum p dy over queries t >= s of the heads of kv head kvh's group (so the
// sum over heads needs no atomics). Workgroup (x: key block, the earliest (most queries) first; y: b * Hkv + kvh);
// invocation (j, c) owns key s0 + j's vec4s c, c + P, ... of k, v, dk and dv.
function tiledDkdvSource(dh: number): string {
  const t = tiling(dh)!;
  return /* wgsl */ `${tiledCommon(dh, t)}
const BQ = ${t.bq}u; // queries per step
@group(0) @binding(0) var<storage, read_write> dk: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> dv: array<vec4f>;
@group(0) @binding(2) var<storage, read> q: array<vec4f>;
@group(0) @binding(3) var<storage, read> k: array<vec4f>;
@group(0) @binding(4) var<storage, read> v: array<vec4f>;
@group(0) @binding(5) var<storage, read> dy: array<vec4f>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
${BACKWARD_PARAMS}
@group(0) @binding(7) var<uniform> p: Params;
var<workgroup> qs: array<vec4f, ${t.bq * (dh / 4)}>; // [query][vec4]
var<workgroup> dys: array<vec4f, ${t.bq * (dh / 4)}>;
var<workgroup> lses: array<f32, BQ>;
var<workgroup> dsums: array<f32, BQ>;
var<workgroup> sPart: array<f32, ${t.bq * ROWS * t.p}>; // [query][invocation]: partial q.k
var<workgroup> dpPart: array<f32, ${t.bq * ROWS * t.p}>; // [query][invocation]: partial dy.v

@compute @workgroup_size(NT)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s0 = wg.x * ROWS;
  let kvh = wg.y % p.kvHeads;
  let b = wg.y / p.kvHeads;
  let group = p.heads / p.kvHeads;
  let j = lid / P;
  let c = lid % P;
  let s = s0 + j;
  let ko = ((b * p.time + min(s, p.time - 1u)) * p.kvHeads + kvh) * DH4;
  var kr: array<vec4f, G>;
  var vr: array<vec4f, G>;
  for (var g = 0u; g < G; g++) { kr[g] = k[ko + g * P + c]; vr[g] = v[ko + g * P + c]; }
  var dkAcc: array<vec4f, G>;
  var dvAcc: array<vec4f, G>;
  for (var h = kvh * group; h < (kvh + 1u) * group; h++) {
    // Queries before s0 see none of the block's keys (BQ divides ROWS, so s0 starts a step).
    for (var t0 = s0; t0 < p.time; t0 += BQ) {
      for (var e = lid; e < BQ * DH4; e += NT) {
        let qo = ((b * p.time + min(t0 + e / DH4, p.time - 1u)) * p.heads + h) * DH4 + e % DH4;
        qs[e] = q[qo];
        dys[e] = dy[qo];
      }
      for (var e = lid; e < BQ; e += NT) {
        let row = (b * p.time + min(t0 + e, p.time - 1u)) * p.heads + h;
        lses[e] = stats[2u * row];
        dsums[e] = stats[2u * row + 1u];
      }
      workgroupBarrier();
      for (var i = 0u; i < BQ; i++) {
        var sc = 0.0;
        var dp = 0.0;
        for (var g = 0u; g < G; g++) {
          sc += dot(kr[g], qs[i * DH4 + g * P + c]);
          dp += dot(vr[g], dys[i * DH4 + g * P + c]);
        }
        sPart[i * NT + lid] = sc;
        dpPart[i * NT + lid] = dp;
      }
      workgroupBarrier();
      // Queries t0 + i with s <= t0 + i < T see key s.
      let i0 = s - min(s, t0);
      let i1 = min(BQ, p.time - t0);
      for (var i = i0; i < i1; i++) {
        var sc = 0.0;
        var dp = 0.0;
        for (var e = 0u; e < P; e++) { sc += sPart[i * NT + j * P + e]; dp += dpPart[i * NT + j * P + e]; }
        let pr = exp(sc * p.scale - lses[i]);
        let ds = pr * (dp - dsums[i]);
        for (var g = 0u; g < G; g++) {
          dvAcc[g] += pr * dys[i * DH4 + g * P + c];
          dkAcc[g] += ds * qs[i * DH4 + g * P + c];
        }
      }
      workgroupBarrier();
    }
  }
  if (s < p.time) {
    for (var g = 0u; g < G; g++) {
      dk[ko + g * P + c] = dkAcc[g] * p.scale;
      dv[ko + g * P + c] = dvAcc[g];
    }
  }
}`;
}

const sources = new Map<string, string>();
function source(kind: string, dh: number, make: (dh: number) => string): string {
  const key = `${kind}/${dh}`;
  let s = sources.get(key);
  if (s === undefined) sources.set(key, (s = make(dh)));
  return s;
}

/**
 * When the forward leaves the per-row kernel: from 16 queries for the dense path (attention-dense.ts, where the
 * score matrix fits), else for the tiled kernel from 16 queries (fewer would leave most of its 64 rows idle) and 128
 * workgroups (a short prefill gives it a workgroup per head only, where the per-row kernel has one per query and
 * head: on an H200, a 128-token prefill of smollm-135m ran at 2,253 tokens/s tiled and 3,778 per row).
 */
const TILED_MIN_TIME = 16;
const TILED_MIN_GROUPS = 128;

/** Whether the tensor-core flash kernels take attention with f16 inputs (tests turn them off to compare). */
export const flashAttentionSwitch = { on: true };

/** Whether attention goes through the flash kernels: f16 inputs, enough queries, a device and head size they take. */
function takesFlash(gpu: Gpu, dims: AttentionDims, inputs: MatmulInputs): boolean {
  return flashAttentionSwitch.on && inputs === 'f16' && dims.time >= TILED_MIN_TIME && flashFits(gpu, dims);
}

/** Whether attention over `keys` keys goes through the score matrix: enough queries, a layer per head, and room. */
function takesDense(gpu: Gpu, { batch, time, heads }: AttentionDims, keys: number): boolean {
  return time >= TILED_MIN_TIME && batch * heads <= MAX_GROUPS && denseFits(gpu, batch * heads * time * keys);
}

/**
 * out (B, T, H, Dh) = causal attention of q (B, T, H, Dh) over the cache k, v (B, S, Hkv, Dh): with f16 inputs
 * (mixed precision), on tensor cores by the flash kernels where they fit (attention-flash.ts); through the score
 * matrix where it fits (attention-dense.ts, its products' inputs rounded as `inputs` says), else the tiled kernel,
 * and per row for a few queries. With dropout (`drop`), always through the score matrix, in chunks of the batch where
 * it is too large. The flash kernels also keep each row's statistics (B, T, H, 2): returned in a buffer of the pool
 * for the caller to free, or to hand to attentionBackward with out.
 */
export function attention(gpu: Gpu, out: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: AttentionDims & { cacheLen: number; startPos: number }, inputs: MatmulInputs = 'f32', drop?: DropoutParams): GPUBuffer | undefined {
  const { batch, time, heads, kvHeads, headDim, cacheLen, startPos } = dims;
  const rows = batch * time * heads;
  if (rows === 0 || headDim === 0) return;
  if (!drop && takesFlash(gpu, dims, inputs)) {
    const stats = gpu.alloc(rows * 2 * 4);
    flashAttention(gpu, out, stats, q, k, v, dims);
    return stats;
  }
  if (drop || takesDense(gpu, dims, startPos + time)) {
    denseAttention(gpu, out, q, k, v, dims, inputs, drop);
    return;
  }
  const params = [batch, time, heads, kvHeads, cacheLen, startPos, f32(1 / Math.sqrt(headDim))];
  const tiledGroups = batch * heads * Math.ceil(time / ROWS);
  if (time >= TILED_MIN_TIME && tiledGroups >= TILED_MIN_GROUPS && tiling(headDim) && batch * heads <= MAX_GROUPS) {
    const wgsl = source('tiled-forward', headDim, (dh) => tiledForwardSource(dh, false));
    gpu.dispatch(wgsl, [out, q, k, v], params, [Math.ceil(time / ROWS), batch * heads]);
  } else {
    gpu.dispatch1d(source('forward', headDim, forwardSource), [out, q, k, v], params, rows * 64);
  }
}

/**
 * dq, dk, dv of y = attention(q, k, v, 0) for the gradient dy, with S = T: by the flash kernels where the forward
 * takes them (they read y and the statistics its forward returned, both computed again where not given), then
 * through the score matrix where it fits, else with the tiled or per-row kernels, whose per-row statistics
 * (B, T, H, 2) go through a scratch buffer taken from the pool and given back once the kernels are recorded.
 */
export function attentionBackward(gpu: Gpu, grads: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, dy: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, y: { out: GPUBuffer; stats?: GPUBuffer } | undefined, dims: AttentionDims, inputs: MatmulInputs = 'f32', drop?: DropoutParams): void {
  const { batch, time, heads, kvHeads, headDim } = dims;
  const rows = batch * time * heads;
  if (rows === 0 || headDim === 0) return;
  if (!drop && takesFlash(gpu, dims, inputs)) {
    const given = y?.stats && { out: y.out, stats: y.stats };
    const forward = given || { out: gpu.alloc(rows * headDim * 4), stats: gpu.alloc(rows * 2 * 4) };
    if (!given) flashAttention(gpu, forward.out, forward.stats, q, k, v, { ...dims, cacheLen: time, startPos: 0 });
    flashAttentionBackward(gpu, grads, dy, q, k, v, forward.out, forward.stats, dims);
    if (!given) [forward.out, forward.stats].forEach((b) => gpu.free(b)); // the dispatches recorded above still run first
    return;
  }
  if (drop || takesDense(gpu, dims, time)) return denseAttentionBackward(gpu, grads, dy, q, k, v, dims, inputs, drop);
  const scale = f32(1 / Math.sqrt(headDim));
  const params = [batch, time, heads, kvHeads, scale];
  const stats = gpu.alloc(rows * 2 * 4);
  if (tiling(headDim) && batch * heads <= MAX_GROUPS) {
    const blocks = Math.ceil(time / ROWS);
    const statsWgsl = source('tiled-stats', headDim, (dh) => tiledForwardSource(dh, true));
    gpu.dispatch(statsWgsl, [stats, q, k, v, dy], [batch, time, heads, kvHeads, time, 0, scale], [blocks, batch * heads]);
    gpu.dispatch(source('tiled-dq', headDim, tiledDqSource), [grads.dq, q, k, v, dy, stats], params, [blocks, batch * heads]);
    gpu.dispatch(source('tiled-dkdv', headDim, tiledDkdvSource), [grads.dk, grads.dv, q, k, v, dy, stats], params, [blocks, batch * kvHeads]);
  } else {
    gpu.dispatch1d(source('stats', headDim, statsSource), [stats, q, k, v, dy], params, rows * 64);
    gpu.dispatch1d(source('dq', headDim, dqSource), [grads.dq, q, k, v, dy, stats], params, rows * 64);
    gpu.dispatch1d(source('dkdv', headDim, dkdvSource), [grads.dk, grads.dv, q, k, v, dy, stats], params, batch * time * kvHeads * 64);
  }
  gpu.free(stats); // the dispatches recorded above still run first
}
