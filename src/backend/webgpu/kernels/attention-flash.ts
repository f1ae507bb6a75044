// Causal attention on tensor cores, FlashAttention-style, for mixed-precision training: the products take f16
// operands and sum in f32 (as tensor-core-matmul.ts), and the score matrix never leaves workgroup memory. Each
// kernel is a workgroup of 4 subgroups of 32 (the tensor cores' 16 x 16 x 16 fragments, see tensor-core-matmul.ts)
// over a block of 64 rows of one head, 16 a subgroup, looping over blocks of 64 of the other side staged as f16 in
// workgroup memory. A subgroup's 16 x 64 block of scores goes through f32 workgroup memory, where each invocation
// takes half a row (every other column: lane 2 r + c owns row r, columns c, c + 2, ...), for the softmax; the
// probabilities (or dS) return as f16 for the next product. In the log2 domain, with c = log2(e) / sqrt(Dh):
//   forward:  per query block, per key block: S = Q K^T; m' = max(m, rowmax(c S)); P = exp2(c S - m');
//             l = l exp2(m - m') + rowsum(P); O = O exp2(m - m') + P V (O in the lanes' registers); out = O / l,
//             and lse = m + log2(l) per row into a stats buffer that stays with out, for the backward.
//   dq:       D = rowsum(dO y) per row (into stats, for dkdv); then per key block: P = exp2(c S - lse);
//             dP = dO V^T; dS = P (dP - D) / sqrt(Dh); dQ += dS K.
//   dkdv:     per key block of one kv head, per query head of its group, per query block at or after it:
//             S^T = K Q^T; P^T; dP^T = V dO^T; dV += P^T dO; dS^T; dK += dS^T Q.
// dQ, dK and dV accumulate in fragments across the loop; no atomics, every sum in a fixed order: deterministic.
// Key blocks past a query block's last key are skipped. Workgroup memory: two 64-row f16 tiles, a 16 x 64 f32 and a
// 16 x 64 f16 block per subgroup, about 45 KB at Dh = 64 (`flashFits` checks the device allows it).
// The backward is FlashAttention-2's, whose dkdv pass also adds dQ by atomics (which WGSL has only for integers),
// with dQ a pass of its own that recomputes the scores and dP: 7 products of the size of Q K^T, against 5 through a
// score matrix. On an H100 at the 134M training step's shape (16 x 1024 tokens, 12 heads of 64), a layer's forward
// took 2.7 ms against 4.7 through the score matrix, forward and backward 3.7 against 3.9 ms (those kernels still had a
// stats pass that recomputed S for lse and D, and tested the mask at every element), and no score matrix (800 MB a
// layer here) is allocated.
import { f32, MAX_GROUPS, type Gpu } from '../gpu.js';
import type { AttentionDims } from './attention.js';

const BLOCK = 64; // rows of a workgroup's block, and of each step over the other side
const SS = BLOCK + 4; // f32 stride of a subgroup's score block (16 bytes of padding: 2-way bank conflicts at most)
const PS = BLOCK + 8; // f16 stride of a subgroup's probability block

/** Whether the flash kernels take attention of this shape on this device. */
export function flashFits(gpu: Gpu, { batch, heads, headDim }: AttentionDims): boolean {
  return gpu.tensorCores && gpu.subgroups && headDim % 16 === 0 && headDim <= 64 && batch * heads <= MAX_GROUPS
    && workgroupBytes(headDim) <= gpu.maxWorkgroupStorage;
}

/** Workgroup memory of the kernels at head size dh: two row tiles, the score blocks, the f16 blocks, dkdv's rows. */
const workgroupBytes = (dh: number) => 2 * BLOCK * (dh + 8) * 2 + BLOCK * SS * 4 + BLOCK * PS * 2 + 2 * BLOCK * 4;

const range = (n: number) => [...Array(n).keys()];
const LEFT = 'subgroup_matrix_left<f16, 16, 16>';
const RIGHT = 'subgroup_matrix_right<f16, 16, 16>';
const RESULT = 'subgroup_matrix_result<f32, 16, 16>';

/** WGSL common to the kernels at head size dh: extensions, the bindings given, the parameters, tiles and blocks. */
function header(dh: number, bindings: string): string {
  return /* wgsl */ `
enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
const DH = ${dh}u;
const KS = ${dh + 8}u; // f16 stride of a row tile (16 bytes of padding)
${bindings}
struct Params { batch: u32, time: u32, heads: u32, kvHeads: u32, cacheLen: u32, startPos: u32, scale: f32 }
@group(0) @binding(${bindings.split('\n').length}) var<uniform> p: Params;
var<workgroup> tileA: array<f16, ${BLOCK * (dh + 8)}>;
var<workgroup> tileB: array<f16, ${BLOCK * (dh + 8)}>;
var<workgroup> scores: array<f32, ${BLOCK * SS}>; // 16 x 64 a subgroup
var<workgroup> probs: array<f16, ${BLOCK * PS}>; // 16 x 64 a subgroup
const LOG2E = 1.4426950408889634;`;
}

/**
 * WGSL opening main: the subgroup, the lane's `row` (of the subgroup's 16) and `half`, and `own`/`ownP`, where its
 * half row starts in its subgroup's score and probability blocks (then every 2nd element).
 */
const MAIN = /* wgsl */ `
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let sg = t / 32u;
  let lane = t % 32u;
  let row = lane / 2u;
  let half = lane % 2u;
  let own = sg * ${16 * SS}u + row * ${SS}u + half;
  let ownP = sg * ${16 * PS}u + row * ${PS}u + half;
  let c2 = p.scale * LOG2E;`;

/** MAIN for a block of 64 queries (t0..) of head h of sequence b. */
const QUERY_BLOCK = /* wgsl */ `${MAIN}
  let b = wg.y / p.heads;
  let h = wg.y % p.heads;
  let kvh = h / (p.heads / p.kvHeads);
  let t0 = wg.x * ${BLOCK}u;`;

/**
 * WGSL staging 64 rows of Dh f32 values (vec4 loads, coalesced) as f16 into `tile` (row r at r KS): block row r is
 * row `index(r)` of `src` seen as (rows, Dh), or zeros where `valid(r)` is false.
 */
function stage(dh: number, tile: string, src: string, index: (r: string) => string, valid: (r: string) => string): string {
  const perRow = dh / 4;
  return /* wgsl */ `
  for (var i = 0u; i < ${(BLOCK * perRow) / 128}u; i++) {
    let e = t + i * 128u;
    let r = e / ${perRow}u;
    let c = e % ${perRow}u;
    var x = vec4f(0.0);
    if (${valid('r')}) { x = ${src}[(${index('r')}) * ${perRow}u + c]; }
    let at = r * KS + c * 4u;
    ${tile}[at] = f16(x.x); ${tile}[at + 1u] = f16(x.y); ${tile}[at + 2u] = f16(x.z); ${tile}[at + 3u] = f16(x.w);
  }`;
}

/** WGSL: the subgroup's 16 rows of `tile` as Dh / 16 left fragments `name`0, `name`1, ... */
const leftRows = (dh: number, tile: string, name: string) =>
  range(dh / 16).map((d) => `  let ${name}${d} = subgroupMatrixLoad<${LEFT}, row_major>(&${tile}, sg * 16u * KS + ${16 * d}u, KS);`).join('\n');

/**
 * WGSL: the subgroup's 16 x 64 block `left` (Dh / 16 left fragments) times the transpose of the 64 rows of `tile`,
 * into `scores`.
 */
const timesRowsT = (dh: number, left: string, tile: string) => range(BLOCK / 16).map((c) => `  {
    var s = ${RESULT}();
${range(dh / 16).map((d) => `    s = subgroupMatrixMultiplyAccumulate(${left}${d}, subgroupMatrixLoad<${RIGHT}, col_major>(&${tile}, ${16 * c}u * KS + ${16 * d}u, KS), s);`).join('\n')}
    subgroupMatrixStore<row_major>(&scores, sg * ${16 * SS}u + ${16 * c}u, s, ${SS}u);
  }`).join('\n');

/** WGSL: acc`f` += the subgroup's 16 x 64 f16 block of `probs` times the 64 rows of `tile` (Dh / 16 fragments). */
const probsTimesRows = (dh: number, acc: string, tile: string) => range(BLOCK / 16).map((c) => `  {
    let a = subgroupMatrixLoad<${LEFT}, row_major>(&probs, sg * ${16 * PS}u + ${16 * c}u, ${PS}u);
${range(dh / 16).map((f) => `    ${acc}${f} = subgroupMatrixMultiplyAccumulate(a, subgroupMatrixLoad<${RIGHT}, row_major>(&${tile}, ${16 * c}u * KS + ${16 * f}u, KS), ${acc}${f});`).join('\n')}
  }`).join('\n');

/** WGSL: fragments acc0.. (16 x Dh) into the subgroup's score block, for the lanes to read (after a barrier). */
const toScores = (dh: number, acc: string) =>
  range(dh / 16).map((f) => `  subgroupMatrixStore<row_major>(&scores, sg * ${16 * SS}u + ${16 * f}u, ${acc}${f}, ${SS}u);`).join('\n');

/** WGSL: Dh / 16 zero fragments `acc`0, `acc`1, ... */
const zeros = (dh: number, acc: string) => range(dh / 16).map((f) => `  var ${acc}${f} = ${RESULT}();`).join('\n');

/**
 * WGSL looping over the lane's 32 columns e of its half row (column 2 e + half) with `body(keep)`, where `keep` is
 * the WGSL test of whether a column lies inside the causal mask, or undefined where every column does. The loop is
 * written twice: subgroups whose block lies wholly inside the mask (`whole`, the same in the whole subgroup: every
 * block but the diagonal's, and in dkdv those past the sequence's end) run it without the test of each element.
 */
const columns = (whole: string, keep: string, body: (keep?: string) => string) => `    if (${whole}) {
      for (var e = 0u; e < 32u; e++) { ${body()} }
    } else {
      for (var e = 0u; e < 32u; e++) { ${body(keep)} }
    }`;

/** WGSL: `value` where `keep` holds (always where keep is undefined), else 0. */
const kept = (value: string, keep?: string) => (keep ? `select(0.0, ${value}, ${keep})` : value);

// The forward, which also keeps each row's lse = m + log2(l) (in the log2 domain) for the backward: stats[2 at].
function forwardSource(dh: number): string {
  const bindings = [
    '@group(0) @binding(0) var<storage, read_write> out: array<f32>; // (B, T, H, Dh)',
    '@group(0) @binding(1) var<storage, read> q: array<vec4f>;',
    '@group(0) @binding(2) var<storage, read> k: array<vec4f>;',
    '@group(0) @binding(3) var<storage, read> v: array<vec4f>;',
    '@group(0) @binding(4) var<storage, read_write> stats: array<f32>; // (B, T, H, 2): lse here, D by dq',
  ].join('\n');
  const kv = (r: string) => `(b * p.cacheLen + j0 + ${r}) * p.kvHeads + kvh`;
  return /* wgsl */ `${header(dh, bindings)}
${QUERY_BLOCK}
${stage(dh, 'tileA', 'q', (r) => `(b * p.time + t0 + ${r}) * p.heads + h`, (r) => `t0 + ${r} < p.time`)}
  workgroupBarrier();
${leftRows(dh, 'tileA', 'q')}
  let tq = t0 + sg * 16u + row; // the lane's query, at position startPos + tq
  let last = p.startPos + tq; // its last key
  let keyEnd = p.startPos + min(t0 + ${BLOCK}u, p.time); // keys the block's queries see
  var m = -1e30; // finite: no key yet (exp2(m - score) underflows to 0)
  var l = 0.0; // the lane's half of the row's sum
  var o: array<f32, ${dh / 2}>; // the lane's columns half, half + 2, ... of the output row
  var x: array<f32, 32>;
  for (var j0 = 0u; j0 < keyEnd; j0 += ${BLOCK}u) {
    workgroupBarrier(); // the last step is done with the tiles and blocks
${stage(dh, 'tileA', 'k', kv, (r) => `j0 + ${r} < keyEnd`)}
${stage(dh, 'tileB', 'v', kv, (r) => `j0 + ${r} < keyEnd`)}
    workgroupBarrier();
${timesRowsT(dh, 'q', 'tileA')}
    workgroupBarrier();
    let whole = j0 + ${BLOCK - 1}u <= p.startPos + t0 + sg * 16u; // every key at or before the subgroup's queries
    var blockMax = -1e30;
${columns('whole', 'j0 + 2u * e + half <= last', (keep) => `x[e] = scores[own + 2u * e] * c2; blockMax = max(blockMax, ${keep ? `select(-1e30, x[e], ${keep})` : 'x[e]'});`)}
    let grown = max(m, max(blockMax, subgroupShuffleXor(blockMax, 1u)));
    let rescale = exp2(m - grown);
    m = grown;
    var sum = 0.0;
${columns('whole', 'j0 + 2u * e + half <= last', (keep) => `let pe = ${kept('exp2(x[e] - m)', keep)}; sum += pe; probs[ownP + 2u * e] = f16(pe);`)}
    l = l * rescale + sum;
    workgroupBarrier();
${zeros(dh, 'pv')}
${probsTimesRows(dh, 'pv', 'tileB')}
${toScores(dh, 'pv')}
    workgroupBarrier();
    for (var e = 0u; e < ${dh / 2}u; e++) { o[e] = o[e] * rescale + scores[own + 2u * e]; }
  }
  let total = l + subgroupShuffleXor(l, 1u);
  let at = (b * p.time + tq) * p.heads + h; // the query's row of q and out
  if (tq < p.time) {
    for (var e = 0u; e < ${dh / 2}u; e++) { out[at * DH + 2u * e + half] = o[e] / total; }
    if (half == 0u) { stats[2u * at] = m + log2(total); }
  }
}`;
}

/** WGSL: the lanes write fragments acc0.. (the subgroup's 16 rows x Dh) to rows `at` of `dst` where `inside`. */
const writeRows = (dh: number, acc: string, dst: string, at: string, inside: string) => `  workgroupBarrier();
${toScores(dh, acc)}
  workgroupBarrier();
  if (${inside}) {
    for (var e = 0u; e < ${dh / 2}u; e++) { ${dst}[(${at}) * DH + 2u * e + half] = scores[own + 2u * e]; }
  }`;

// dQ of a block of 64 queries of one head.
function dqSource(dh: number): string {
  const bindings = [
    '@group(0) @binding(0) var<storage, read_write> dq: array<f32>;',
    '@group(0) @binding(1) var<storage, read> q: array<vec4f>;',
    '@group(0) @binding(2) var<storage, read> k: array<vec4f>;',
    '@group(0) @binding(3) var<storage, read> v: array<vec4f>;',
    '@group(0) @binding(4) var<storage, read> dy: array<vec4f>;',
    '@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // lse in, D out (for dkdv)',
    '@group(0) @binding(6) var<storage, read> y: array<vec4f>;',
  ].join('\n');
  const query = (r: string) => `(b * p.time + t0 + ${r}) * p.heads + h`;
  const key = (r: string) => `(b * p.time + j0 + ${r}) * p.kvHeads + kvh`;
  return /* wgsl */ `${header(dh, bindings)}
${QUERY_BLOCK}
${stage(dh, 'tileA', 'q', query, (r) => `t0 + ${r} < p.time`)}
${stage(dh, 'tileB', 'dy', query, (r) => `t0 + ${r} < p.time`)}
  workgroupBarrier();
${leftRows(dh, 'tileA', 'q')}
${leftRows(dh, 'tileB', 'g')}
  let tq = t0 + sg * 16u + row;
  let at = (b * p.time + tq) * p.heads + h;
  var lse = 0.0;
  var dsum = 0.0; // D = rowsum(dO y), the lane's half (every other vec4), then the row's
  if (tq < p.time) {
    lse = stats[2u * at];
    for (var c = half; c < ${dh / 4}u; c += 2u) { dsum += dot(dy[at * ${dh / 4}u + c], y[at * ${dh / 4}u + c]); }
  }
  dsum += subgroupShuffleXor(dsum, 1u);
  if (tq < p.time && half == 0u) { stats[2u * at + 1u] = dsum; }
  let keyEnd = min(t0 + ${BLOCK}u, p.time);
${zeros(dh, 'dq')}
  var pr: array<f32, 32>;
  for (var j0 = 0u; j0 < keyEnd; j0 += ${BLOCK}u) {
    workgroupBarrier();
${stage(dh, 'tileA', 'k', key, (r) => `j0 + ${r} < keyEnd`)}
${stage(dh, 'tileB', 'v', key, (r) => `j0 + ${r} < keyEnd`)}
    workgroupBarrier();
${timesRowsT(dh, 'q', 'tileA')}
    workgroupBarrier();
    let whole = j0 + ${BLOCK - 1}u <= t0 + sg * 16u; // every key at or before the subgroup's queries
${columns('whole', 'j0 + 2u * e + half <= tq', (keep) => `pr[e] = ${kept('exp2(scores[own + 2u * e] * c2 - lse)', keep)};`)}
    workgroupBarrier();
${timesRowsT(dh, 'g', 'tileB')}
    workgroupBarrier();
    for (var e = 0u; e < 32u; e++) { probs[ownP + 2u * e] = f16(pr[e] * (scores[own + 2u * e] - dsum) * p.scale); }
    workgroupBarrier();
${probsTimesRows(dh, 'dq', 'tileA')}
  }
${writeRows(dh, 'dq', 'dq', 'at', 'tq < p.time')}
}`;
}

// dK and dV of a block of 64 keys of one kv head, over the queries of its group's heads.
function dkdvSource(dh: number): string {
  const bindings = [
    '@group(0) @binding(0) var<storage, read_write> dk: array<f32>;',
    '@group(0) @binding(1) var<storage, read_write> dv: array<f32>;',
    '@group(0) @binding(2) var<storage, read> q: array<vec4f>;',
    '@group(0) @binding(3) var<storage, read> k: array<vec4f>;',
    '@group(0) @binding(4) var<storage, read> v: array<vec4f>;',
    '@group(0) @binding(5) var<storage, read> dy: array<vec4f>;',
    '@group(0) @binding(6) var<storage, read> stats: array<f32>;',
  ].join('\n');
  const key = (r: string) => `(b * p.time + s0 + ${r}) * p.kvHeads + kvh`;
  const query = (r: string) => `(b * p.time + i0 + ${r}) * p.heads + h`;
  return /* wgsl */ `${header(dh, bindings)}
var<workgroup> lses: array<f32, ${BLOCK}>;
var<workgroup> dsums: array<f32, ${BLOCK}>;
${MAIN}
  let b = wg.y / p.kvHeads;
  let kvh = wg.y % p.kvHeads;
  let group = p.heads / p.kvHeads;
  let s0 = wg.x * ${BLOCK}u;
${stage(dh, 'tileA', 'k', key, (r) => `s0 + ${r} < p.time`)}
${stage(dh, 'tileB', 'v', key, (r) => `s0 + ${r} < p.time`)}
  workgroupBarrier();
${leftRows(dh, 'tileA', 'k')}
${leftRows(dh, 'tileB', 'v')}
  let ks = s0 + sg * 16u + row; // the lane's key
${zeros(dh, 'dk')}
${zeros(dh, 'dv')}
  var pr: array<f32, 32>;
  for (var h = kvh * group; h < (kvh + 1u) * group; h++) {
    for (var i0 = s0; i0 < p.time; i0 += ${BLOCK}u) {
      workgroupBarrier();
${stage(dh, 'tileA', 'q', query, (r) => `i0 + ${r} < p.time`)}
${stage(dh, 'tileB', 'dy', query, (r) => `i0 + ${r} < p.time`)}
      if (t < ${BLOCK}u) {
        let at = (b * p.time + i0 + t) * p.heads + h;
        let inside = i0 + t < p.time;
        lses[t] = select(0.0, stats[2u * at], inside);
        dsums[t] = select(0.0, stats[2u * at + 1u], inside);
      }
      workgroupBarrier();
${timesRowsT(dh, 'k', 'tileA')}
      workgroupBarrier();
      // Column j is the query i0 + j; the block lies wholly inside where its queries all come at or after the
      // subgroup's last key, and before the sequence's end.
      let whole = i0 >= s0 + sg * 16u + 15u && i0 + ${BLOCK - 1}u < p.time;
${columns('whole', 'i0 + 2u * e + half >= ks && i0 + 2u * e + half < p.time', (keep) => `pr[e] = ${kept('exp2(scores[own + 2u * e] * c2 - lses[2u * e + half])', keep)}; probs[ownP + 2u * e] = f16(pr[e]);`)}
      workgroupBarrier();
${timesRowsT(dh, 'v', 'tileB')}
${probsTimesRows(dh, 'dv', 'tileB')}
      workgroupBarrier();
      for (var e = 0u; e < 32u; e++) { probs[ownP + 2u * e] = f16(pr[e] * (scores[own + 2u * e] - dsums[2u * e + half]) * p.scale); }
      workgroupBarrier();
${probsTimesRows(dh, 'dk', 'tileA')}
    }
  }
${writeRows(dh, 'dk', 'dk', '(b * p.time + ks) * p.kvHeads + kvh', 'ks < p.time')}
${writeRows(dh, 'dv', 'dv', '(b * p.time + ks) * p.kvHeads + kvh', 'ks < p.time')}
}`;
}

const sources = new Map<string, string>();
function source(kind: string, dh: number, make: () => string): string {
  const key = `${kind}/${dh}`;
  let s = sources.get(key);
  if (s === undefined) sources.set(key, (s = make()));
  return s;
}

type Dims = AttentionDims & { cacheLen: number; startPos: number };
const params = ({ batch, time, heads, kvHeads, cacheLen, startPos, headDim }: Dims) => [batch, time, heads, kvHeads, cacheLen, startPos, f32(1 / Math.sqrt(headDim))];

/**
 * out (B, T, H, Dh) = causal attention of q over the first startPos + T positions of k, v (B, S, Hkv, Dh); each
 * row's lse goes to stats (B, T, H, 2), for the backward.
 */
export function flashAttention(gpu: Gpu, out: GPUBuffer, stats: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, dims: Dims): void {
  const { batch, time, heads, headDim: dh } = dims;
  gpu.dispatch(source('forward', dh, () => forwardSource(dh)), [out, q, k, v, stats], params(dims), [Math.ceil(time / BLOCK), batch * heads]);
}

/** dq, dk, dv of y = attention(q, k, v, 0) for the gradient dy (S = T), with the stats that the forward of y wrote. */
export function flashAttentionBackward(gpu: Gpu, grads: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, dy: GPUBuffer, q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, y: GPUBuffer, stats: GPUBuffer, dims: AttentionDims): void {
  const { batch, time, heads, kvHeads, headDim: dh } = dims;
  const all = { ...dims, cacheLen: time, startPos: 0 };
  const blocks = Math.ceil(time / BLOCK);
  gpu.dispatch(source('dq', dh, () => dqSource(dh)), [grads.dq, q, k, v, dy, stats, y], params(all), [blocks, batch * heads]);
  gpu.dispatch(source('dkdv', dh, () => dkdvSource(dh)), [grads.dk, grads.dv, q, k, v, dy, stats], params(all), [blocks, batch * kvHeads]);
}
