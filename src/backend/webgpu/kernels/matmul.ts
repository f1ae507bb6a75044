// Matrix products for linear layers and their backward: out (m, n) = A (m, k) B (k, n), with A and B read in the
// layout their tensors have, so no transposed copies are made:
//   NT: A (m, k), B stored (n, k)  -> x w^T     (linear: x (rows, in), w (out, in))
//   NN: A (m, k), B stored (k, n)  -> dy w      (dx of a linear)
//   TN: A stored (k, m), B (k, n)  -> dy^T x    (dw of a linear)
// Register tiling: each workgroup of 256 invocations makes a 128 x 128 tile of out, each invocation an 8 x 8 block
// of it (64 accumulators in registers), so every value read from workgroup memory feeds 8 multiply-adds. k runs in
// steps of 8 through two workgroup-memory buffers (2 x (8 x 128) floats for A and for B: 16 KiB, WebGPU's default
// limit): while one step is multiplied, the next one's values are already on their way from global memory into
// registers, and they go into the other buffer, so one barrier per step suffices.
// Workgroup memory holds both tiles k-major as vec4s, [step][4 rows (A) or 4 columns (B)]. Invocation (tx, ty) of a
// 16 x 16 grid owns rows 4ty..4ty+3 and 64+4ty..64+4ty+3 and the same columns with tx, so per k it reads two vec4s of
// A, the same for all 16 invocations of a row of the grid (a broadcast), and two of B, consecutive across tx
// (conflict-free).
// Each invocation loads one vec4 of A and one of B per step, along whichever axis is contiguous in memory, so
// neighbouring invocations read neighbouring addresses in either layout. Loads as vec4 need the element index
// aligned to 4 (k for operands stored row-major in k, else m or n, and n for out); other sizes take the same kernel
// with scalar loads and stores. Edges load zeros and store nothing outside out.
// Products with n <= 64 (attention's, n = Dh) take 128 x 64 tiles: each invocation makes 8 x 4 of out, and the
// first 128 invocations load B. Batches of products read their operands where they lie (MatmulBatch, Strided).
// A few rows of x against w (NT, decode) take the mat-vec kernel instead: a tile would idle all but those rows.
import type { Gpu } from '../gpu.js';
import { map } from './elementwise.js';
import { weightReader, type WeightType } from './halves.js';
import { isMatvec, matvecs } from './matvec.js';
import { tensorCoreMatmul, tensorCoreSplitFits } from './tensor-core-matmul.js';

export type MatmulLayout = 'NT' | 'NN' | 'TN';
export const NT: MatmulLayout = 'NT';
export const NN: MatmulLayout = 'NN';
export const TN: MatmulLayout = 'TN';
/**
 * What a product's inputs are rounded to: f32 (as they are), or f16 with f32 accumulation, as tensor cores multiply
 * (mixed precision; on tensor cores where the device has them, tensor-core-matmul.ts, else this kernel rounding its
 * operands as it stages them, the same arithmetic up to the order of the sums); or f16x3, f32 to 22 of its 24 bits on
 * tensor cores, each operand split into two f16s and multiplied three times (tensor-core-matmul.ts; unbatched products
 * of f32 operands on devices with tensor cores, as they are on this kernel for the rest).
 */
export type MatmulInputs = 'f32' | 'f16' | 'f16x3';

/** Rows and columns of out per workgroup (the kernel's index arithmetic is written for 128); causal attention's
 * ranges (layerRange, maskedTile) go by tiles of this many rows in both kernels. */
export const TILE = 128;

/** Columns of out per workgroup in both kernels: 64 for products with n <= 64 (attention's, n = Dh), else TILE. */
export const tileColumns = (n: number): number => (n <= 64 ? 64 : TILE);
const STEP = 8; // k per stage in workgroup memory
const XYZW = ['x', 'y', 'z', 'w'];

/**
 * The tiled kernel for a layout; `vec` reads and writes vec4s (needs the sizes that `aligned` checks); `checked`
 * bounds its loads and stores (unneeded where out is whole tiles and k whole steps). Accumulators
 * are named variables (the code is unrolled here), so that they stay in registers. B is stored as
 * `bType` says (NT only: a weight read as the file stores it, decoded as it is staged; halves.ts). Tiles are 128
 * columns wide, or `cols` = 64 for products with n <= 64 (attention's, n = Dh): each invocation then makes 8 x 4 of
 * out, and half the invocations load B.
 */
function source(layout: MatmulLayout, vec: boolean, inputs: MatmulInputs, bType: WeightType, checked: boolean, cols: number): string {
  // WGSL `loadA`/`loadB` (invocation t's vec4 of the step at k0, zero outside the matrix) and `storeA`/`storeB` (that
  // vec4 into workgroup buffer `buf`) for one operand: `name` a or b, `extent` its dimension besides k (m or n),
  // `kContiguous` whether it is stored row-major in k.
  const operand = (name: 'a' | 'b', extent: 'm' | 'n', kContiguous: boolean, width: number): string => {
    const fn = name.toUpperCase();
    const tile = `tile${fn}`;
    const from = `from${fn}`; // where this product's operand starts (see MatmulBatch)
    // Element e of the operand (vec4 e with vec), through B's reader where B is 16-bit.
    const at = (e: string) => (name === 'b' && bType !== 'f32' ? `bAt${vec ? '4' : ''}(${e})` : `${name}[${e}]`);
    if (kContiguous) {
      // Element (i, q) at i * k + q. Invocation t reads 4 consecutive q of tile row t / 2 (two invocations per row
      // cover its 8 steps), and scatters them to 4 steps of workgroup memory (t and t + 1 hit the same bank there:
      // a 2-way conflict on 4 stores per 512 multiply-adds, cheaper than the padding that would not fit in 16 KiB).
      const load = !checked
        ? `return ${at(`(${from} + i * p.row${fn} + q) / 4u`)};`
        : vec
        ? `if (i < p.${extent} && q < p.k) { return ${at(`(${from} + i * p.row${fn} + q) / 4u`)}; }
  return vec4f(0.0);`
        : `var v = vec4f(0.0);
  if (i < p.${extent}) {
${XYZW.map((c, j) => `    if (q + ${j}u < p.k) { v.${c} = ${at(`${from} + i * p.row${fn} + q + ${j}u`)}; }`).join('\n')}
  }
  return v;`;
      return /* wgsl */ `
fn load${fn}(i0: u32, k0: u32, t: u32) -> vec4f {
  let i = i0 + t / 2u;
  let q = k0 + t % 2u * 4u;
  ${load}
}
fn store${fn}(buf: u32, t: u32, v: vec4f) {
  let i = t / 2u;
  let s = t % 2u * 4u;
${XYZW.map((c, j) => `  ${tile}[buf][s + ${j}u][i / 4u][i % 4u] = v.${c};`).join('\n')}
}`;
    }
    // Element (i, q) at q * extent + i. Invocation t reads 4 consecutive i of step t / w: a step's row of the tile is
    // w = width / 4 invocations (32, or 16 in a 64-wide tile), and the vec4 goes to workgroup memory as it is.
    const w = width / 4;
    const load = !checked
      ? `return ${name}[(${from} + q * p.row${fn} + i) / 4u];`
      : vec
      ? `if (i < p.${extent} && q < p.k) { return ${name}[(${from} + q * p.row${fn} + i) / 4u]; }
  return vec4f(0.0);`
      : `var v = vec4f(0.0);
  if (q < p.k) {
${XYZW.map((c, j) => `    if (i + ${j}u < p.${extent}) { v.${c} = ${name}[${from} + q * p.row${fn} + i + ${j}u]; }`).join('\n')}
  }
  return v;`;
    return /* wgsl */ `
fn load${fn}(i0: u32, k0: u32, t: u32) -> vec4f {
  let i = i0 + t % ${w}u * 4u;
  let q = k0 + t / ${w}u;
  ${load}
}
fn store${fn}(buf: u32, t: u32, v: vec4f) {
  ${tile}[buf][t / ${w}u][t % ${w}u] = v;
}`;
  };
  const element = vec ? 'vec4f' : 'f32';
  const round = (v: string) => (inputs === 'f16' ? `quantizeToF16(${v})` : v);
  // acc{2i + h}: row i of the invocation's 8 (4ty + i for i < 4, else 64 + 4ty + i - 4), columns 4tx..4tx+3
  // (h = 0) or 64 + 4tx.. (h = 1, in 128-wide tiles). Variables, not an array: on an H100 the products ran 2-7%
  // faster so.
  const halves = cols / 64;
  const rowOffset = (i: number): string => `${(i >> 2) * 64 + (i & 3)}u`;
  const each = <T>(f: (i: number, h: number) => T): T[] => Array.from({ length: 8 * halves }, (_, e) => f(e / halves | 0, e % halves));
  const accumulators = each((i, h) => `var acc${2 * i + h} = vec4f(0.0);`).join(' ');
  const fmas = each((i, h) => `      acc${2 * i + h} += ${i < 4 ? 'a0' : 'a1'}.${XYZW[i & 3]} * b${h};`).join('\n');
  const stores = each((i, h) => `  storeOut(row0 + ty * 4u + ${rowOffset(i)}, col0 + tx * 4u + ${h * 64}u, acc${2 * i + h});`).join('\n');
  // Invocations that load B: all of them, or the first 128 for a 64-wide tile.
  const forB = (statement: string) => (cols === TILE ? statement : `if (t < ${2 * cols}u) { ${statement} }`);
  const storeOut = !checked
    ? `out[(base + row * p.rowOut + col) / 4u] = v;`
    : vec
    ? `if (row < p.m && col < p.n) { out[(base + row * p.rowOut + col) / 4u] = v; }`
    : `if (row >= p.m) { return; }
${XYZW.map((c, j) => `  if (col + ${j}u < p.n) { out[base + row * p.rowOut + col + ${j}u] = v.${c}; }`).join('\n')}`;
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<${element}>;
@group(0) @binding(1) var<storage, read> a: array<${element}>;
${bType === 'f32' ? `@group(0) @binding(2) var<storage, read> b: array<${element}>;` : weightReader('b', 2, bType, vec ? 4 : 1)}
${PARAMS}
var<workgroup> tileA: array<array<array<vec4f, ${TILE / 4}>, ${STEP}>, 2>; // [buffer][step][4 rows]
var<workgroup> tileB: array<array<array<vec4f, ${cols / 4}>, ${STEP}>, 2>; // [buffer][step][4 columns]
${operand('a', 'm', layout !== 'TN', TILE)}
${operand('b', 'n', layout === 'NT', cols)}
fn storeOut(row: u32, col: u32, v: vec4f) {
  ${storeOut}
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row0 = wg.y * ${TILE}u;
  let col0 = wg.x * ${cols}u;
  let tx = t % 16u;
  let ty = t / 16u;
  if (maskedTile(row0, col0)) { return; }
  ${accumulators}
  let ks = layerRange(wg.z, row0, col0, ${STEP}u);
  var nextA = loadA(row0, ks.x, t);
  var nextB = vec4f(0.0);
  ${forB('nextB = loadB(col0, ks.x, t);')}
  for (var k0 = ks.x; k0 < ks.y; k0 += ${STEP}u) {
    // The buffer written here was last read two steps ago, before everyone passed the previous step's barrier.
    let buf = k0 / ${STEP}u % 2u;
    storeA(buf, t, ${round('nextA')});
    ${forB(`storeB(buf, t, ${round('nextB')});`)}
    workgroupBarrier();
    if (k0 + ${STEP}u < ks.y) {
      nextA = loadA(row0, k0 + ${STEP}u, t);
      ${forB(`nextB = loadB(col0, k0 + ${STEP}u, t);`)}
    }
    for (var s = 0u; s < ${STEP}u; s++) {
      let a0 = tileA[buf][s][ty]; // rows 4ty..
      let a1 = tileA[buf][s][ty + 16u]; // rows 64 + 4ty..
      let b0 = tileB[buf][s][tx];${halves === 2 ? `
      let b1 = tileB[buf][s][tx + 16u];` : ''}
${fmas}
    }
  }
${stores}
}`;
}

const sources = new Map<string, string>();

/**
 * The parameters of both mat-mul kernels, and `layerRange`, which sets where workgroup layer z's operands and
 * result start and returns the k range [x, y) of the workgroup's tile at (row0, col0). Layer z is product z of a
 * batch (MatmulBatch: sequence s = z / heads, head h = z % heads; B's head h / groupB), or chunk z of k (k from
 * z kStride, at most chunk of it, the partial result at z seqOut). A causal attention product narrows the range
 * to what its mask leaves nonzero. Rows of A, B and out are rowA, rowB and rowOut elements apart.
 */
export const PARAMS = /* wgsl */ `
struct Params {
  m: u32, k: u32, n: u32, chunk: u32, kStride: u32, heads: u32, groupB: u32, causal: u32, offset: u32,
  startA: u32, seqA: u32, headA: u32, rowA: u32, startB: u32, seqB: u32, headB: u32, rowB: u32,
  startOut: u32, seqOut: u32, headOut: u32, rowOut: u32,
}
@group(0) @binding(3) var<uniform> p: Params;
var<private> fromA: u32;
var<private> fromB: u32;
var<private> base: u32; // where this layer's (m, n) result starts in out
// A tile of scores (query rows, key columns) right of its last query's last key: all masked. Attention reads none
// of it (attention-dense.ts), so it is neither computed nor stored.
fn maskedTile(row0: u32, col0: u32) -> bool {
  return p.causal == 1u && col0 > row0 + ${TILE - 1}u + p.offset;
}
fn layerRange(z: u32, row0: u32, col0: u32, step: u32) -> vec2u {
  let s = z / p.heads;
  let h = z % p.heads;
  fromA = p.startA + s * p.seqA + h * p.headA;
  fromB = p.startB + s * p.seqB + h / p.groupB * p.headB;
  base = p.startOut + s * p.seqOut + h * p.headOut;
  let begin = z * p.kStride;
  let end = min(p.k, begin + p.chunk);
  switch p.causal {
    // probabilities (query rows) x keys: k runs over keys, none past the tile's last query
    case 2u: { return vec2u(begin, min(end, row0 + ${TILE}u + p.offset)); }
    // scores^T (key rows) x queries: k runs over queries, none before the tile's first key
    case 3u: { if (row0 > p.offset) { return vec2u(max(begin, (row0 - p.offset) / step * step), end); } }
    default: {}
  }
  return vec2u(begin, end);
}`;

/**
 * The products of causal attention, whose masked part need not be computed (layerRange): `scores` (queries x keys:
 * Q K^T, dO V^T), `overKeys` (k runs over keys: P V, dS K), `overQueries` (k runs over queries: dS^T Q, P^T dO).
 */
export const CAUSAL = { scores: 1, overKeys: 2, overQueries: 3 } as const;

/**
 * Where each product of a batch finds one operand in its buffer: product (s, h) (see MatmulBatch) at element
 * start + s sequence + h head, its rows `row` elements apart. A (B, T, H, D) tensor gives head h of sequence s as a
 * (T, D) matrix with { sequence: T H D, head: D, row: H D }; a head-major (B, H, T, D) one with { sequence: H T D,
 * head: T D, row: D }.
 */
export interface Strided { start: number; sequence: number; head: number; row: number }

/**
 * A batch of products of the same sizes, one per workgroup layer z (attention's heads): z = s heads + h for
 * sequence s and head h; B is read at head h / groupB (groupB query heads share a kv head).
 */
export interface MatmulBatch {
  count: number; heads: number; groupB: number; a: Strided; b: Strided; out: Strided;
  /** For causal attention: which product this is, and the position of query 0 (keys start at 0). */
  causal?: { kind: keyof typeof CAUSAL; offset: number };
}

/** Whether the vec4 variant may run: every vec4 starts at an element index that is a multiple of 4. */
function aligned(m: number, k: number, n: number, layout: MatmulLayout, batch?: MatmulBatch): boolean {
  const alongA = layout === 'TN' ? m : k;
  const alongB = layout === 'NT' ? k : n;
  const strides = batch ? [batch.a, batch.b, batch.out].flatMap((o) => [o.start, o.sequence, o.head, o.row]) : [];
  return [alongA, alongB, n, ...strides].every((d) => d % 4 === 0);
}

/** Workgroups that keep a large GPU busy (two per multiprocessor of a 132-SM H100/H200, rounded). */
const BUSY_GROUPS = 256;
/**
 * Workgroups a product with fewer tiles than BUSY_GROUPS is split into (along k). More than BUSY_GROUPS: on an H100,
 * the tensor-core weight gradient 2048 x 16384 -> 768 (96 tiles) ran at 66 TFLOP/s split 3 ways and at 93-97 split
 * 11 ways (1056 workgroups); the partial sums cost little beside it.
 */
const SPLIT_GROUPS = 1024;
/** The least k a workgroup is given when k is split; a multiple of both kernels' k step (8 and 32). */
const MIN_CHUNK = 256;
/** Chunks of k are multiples of this, a multiple of both kernels' k step: a step never reads into the next chunk. */
const CHUNK_STEP = 64;

/**
 * out (m, n) = A B as `layout` says (see above), f32 in memory but for an NT product's B, which may be a 16-bit
 * weight (`bType`, read as stored, on the tiled kernel), the inputs rounded as `inputs` says; or a `batch` of such
 * products.
 * Products with few tiles of out and a long k (the weight gradient dy^T x: k is every token of the batch) split k
 * into chunks, one per workgroup layer z, whose partial products are then summed: otherwise most of the GPU idles.
 */
export function matmul(gpu: Gpu, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, m: number, k: number, n: number, layout: MatmulLayout, inputs: MatmulInputs = 'f32', batch?: MatmulBatch, bType: WeightType = 'f32'): void {
  if (m === 0 || n === 0 || batch?.count === 0) return;
  if (bType !== 'f32' && layout !== 'NT') throw new Error(`webgpu: a ${bType} B is read only by NT products`);
  if (inputs !== 'f16' && layout === 'NT' && isMatvec(m) && !batch) return matvecs(gpu, [out], a, [b], m, k, [n], bType);
  const tiles = Math.ceil(m / TILE) * Math.ceil(n / TILE);
  const want = tiles >= BUSY_GROUPS || batch ? 1 : Math.max(1, Math.min(Math.ceil(SPLIT_GROUPS / tiles), Math.floor(k / MIN_CHUNK)));
  const chunk = Math.max(CHUNK_STEP, Math.ceil(k / want / CHUNK_STEP) * CHUNK_STEP);
  const split = Math.max(1, Math.ceil(k / chunk));
  const partials = split > 1 ? gpu.alloc(split * m * n * 4) : out;
  // See PARAMS. Unbatched, the operands' rows are as long as the layout says, and the k chunks' partial products
  // lie one after another.
  const rows = [layout === 'TN' ? m : k, layout === 'NT' ? k : n, n];
  const params = batch
    ? [m, k, n, k, 0, batch.heads, batch.groupB, batch.causal ? CAUSAL[batch.causal.kind] : 0, batch.causal?.offset ?? 0,
      ...[batch.a, batch.b, batch.out].flatMap((o) => [o.start, o.sequence, o.head, o.row])]
    : [m, k, n, chunk, chunk, 1, 1, 0, 0, 0, 0, 0, rows[0]!, 0, 0, 0, rows[1]!, 0, m * n, 0, rows[2]!];
  const layers = batch?.count ?? split;
  const vec = aligned(m, k, n, layout, batch);
  // The tensor-core kernel's output must hold one 16 x 16 f32 fragment (WebGPU checks the binding's size).
  const threeHalves = inputs === 'f16x3' && !batch && bType === 'f32' && tensorCoreSplitFits(gpu);
  if ((inputs === 'f16' || threeHalves) && vec && gpu.tensorCores && partials.size >= 16 * 16 * 4) {
    tensorCoreMatmul(gpu, partials, a, b, params, layers, layout, bType, threeHalves ? { elements: [m * k, k * n] } : undefined);
  } else {
    const cols = tileColumns(n);
    const checked = !(vec && m % TILE === 0 && n % cols === 0 && k % STEP === 0);
    const rounding = inputs === 'f16' ? 'f16' : 'f32';
    const key = `${layout} ${vec} ${rounding} ${bType} ${checked} ${cols}`;
    let wgsl = sources.get(key);
    if (!wgsl) sources.set(key, (wgsl = source(layout, vec, rounding, bType, checked, cols)));
    gpu.dispatch(wgsl, [partials, a, b], params, [Math.ceil(n / cols), Math.ceil(m / TILE), layers]);
  }
  if (split > 1) {
    gpu.dispatch1d(SUM_CHUNKS, [out, partials], [m * n, split], m * n);
    gpu.free(partials); // the commands recorded above still run first
  }
}

/** out[i] = the sum over chunks z of partials[z * n + i]. */
const SUM_CHUNKS = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, `var sum = 0.0;
  for (var z = 0u; z < p.chunks; z++) { sum += partials[z * p.n + i]; }
  out[i] = sum;`, 'n: u32, chunks: u32');
