// The matrix products of matmul.ts (NT, NN, TN) on tensor cores, for mixed-precision training: each operand is
// rounded to f16 as it is staged in workgroup memory, and the products accumulate in f32. Tensor cores
// are reached through WGSL's experimental subgroup matrices (Dawn's `chromium_experimental_subgroup_matrix`): a
// subgroup of 32 invocations multiplies a 16 x 16 f16 fragment by another into a 16 x 16 f32 one.
// A workgroup of 4 subgroups (2 x 2) makes a 128 x 128 tile of out, each subgroup a 64 x 64 quarter of it as 4 x 4
// fragments (16 accumulators); products with n <= 64 (attention's, n = Dh) take 128 x 64 tiles (4 x 2 fragments a
// subgroup), which on an H100 ran them 1.7-1.9x faster than half-empty 128 x 128 ones. k runs in steps of 32: the
// workgroup loads A's 128 x 32 and B's 32 x 128 (or 64) values as vec4s, coalesced along whichever axis the
// operand is contiguous in, rounds them into f16 tiles of that same layout (rows padded by 8 halves against bank
// conflicts), and each subgroup multiplies 2 x (4 + 4) fragments (4 + 2 in a 64-wide tile) read from them row- or
// column-major as the layout has them: no layout needs a transposed copy. The next step's values are loaded into registers while this step's
// fragments multiply (H100: the 134M step's products 3-12% faster than loading after the multiply).
// Tiles inside out are stored straight from the accumulators; those on its edge go through a 16 x 16 f32 scratch
// per subgroup, so nothing is written outside out. Loads as vec4 need the sizes that matmul.ts's `aligned` checks.
// f32 values beyond f16's range round to infinity on the GPUs we know (WGSL leaves it to the implementation); the
// trainer's loss scaling (train/loss-scale.ts) sees that as non-finite gradients and skips the step.
// The split kernel (f16x3 precision) multiplies f32 operands to 22 of their 24 bits: each operand is scaled by a power
// of 2 that brings its largest value to 2^14..2^15 (an AMAX pass first), and each value x s is staged as two f16s,
// hi (x s rounded to 11 bits) and lo (x s - hi, rounded), in two tiles; A B s_A s_B = hi hi + hi lo + lo hi, three
// products summed in one f32 accumulator (lo lo, 2^-22 of hi hi, is left out), then scaled back. On an H100, the 134M
// step's products ran at 46-61 TFLOP/s against the f32 kernel's 33-37 (matmul.ts), and their error against f64 was
// 9.3e-7 rms of the result, beside the f32 kernel's 2.9e-7 and f16's 3e-4 to 2e-2 (small values lost to f16's range).
import type { Gpu, Param } from '../gpu.js';
import { weightReader, type WeightType } from './halves.js';
import { PARAMS, TILE as ROWS, tileColumns, type MatmulLayout } from './matmul.js';

const STEP = 32; // k per stage (64 measured slower on an H100: 16384x768x2048 forward 68 vs 85 TFLOP/s)
const SPLIT_STEP = 16; // k per stage of the split kernel: its four tiles take 24 KB (at 32, 40 KB: past many devices' 32)
const FRAGMENT = 16;
const PAD = 8; // halves of padding per tile row

/** Halves of workgroup memory an operand's tile takes: `extent` rows or columns by `step`, padded. */
const tileHalves = (extent: number, step: number) => Math.max(extent * (step + PAD), step * (extent + PAD));

/** The kernel making tiles of ROWS x `cols` (128, or 64 for products with n <= 64: attention's heads). */
function source(layout: MatmulLayout, bType: WeightType, checked: boolean, cols: number, split: boolean): string {
  const step = split ? SPLIT_STEP : STEP;
  const left = 'subgroup_matrix_left<f16, 16, 16>';
  const right = 'subgroup_matrix_right<f16, 16, 16>';
  // WGSL that stages one operand's step at k0 into its tile (`loadA`, `storeA` and the same for B) and an expression
  // for fragment `f` (along m or n) of sub-step `s` (k = 16s..16s+15) of it. `name` a or b, `extent` its dimension
  // besides k and `size` the tile's length along it, `kContiguous` whether it is stored row-major in k.
  const operand = (name: 'a' | 'b', extent: 'm' | 'n', size: number, kContiguous: boolean, type: WeightType) => {
    const fn = name.toUpperCase();
    const tile = `tile${fn}`;
    const fragmentType = name === 'a' ? left : right;
    const base = name === 'a' ? 'sr' : 'sc'; // which half of the tile along extent the subgroup takes
    const loads = (step * size) / 4 / 128; // vec4s per invocation
    // Element (i, q) of the operand: at i * row + q (k-contiguous: tile [i][q], stride step + PAD), else at
    // q * row + i (tile [q][i], stride size + PAD). Invocation t's vec4 number s of the step is its vec4 at
    // (i, q) = (t / 8 + 16 s, 4 (t % 8)) of the step (k-contiguous: 8 invocations read 32 consecutive values of a
    // row), else (4 (t % w), t / w + (128 / w) s) with w = size / 4 (w invocations read size consecutive ones).
    const stride = kContiguous ? step + PAD : size + PAD;
    const perRow = kContiguous ? step / 4 : size / 4; // invocations per row of the operand's step
    const [i, q] = kContiguous
      ? [(s: number) => `t / ${perRow}u + ${(128 / perRow) * s}u`, () => `t % ${perRow}u * 4u`]
      : [() => `t % ${perRow}u * 4u`, (s: number) => `t / ${perRow}u + ${(128 / perRow) * s}u`];
    const index = kContiguous ? (e: string, c: string) => `(from${fn} + ${e} * p.row${fn} + ${c}) / 4u` : (e: string, c: string) => `(from${fn} + ${c} * p.row${fn} + ${e}) / 4u`;
    const tileAt = (s: number) => (kContiguous ? `(${i(s)}) * ${stride}u + ${q(s)}` : `(${q(s)}) * ${stride}u + ${i(s)}`);
    const steps = [...Array(loads).keys()];
    const read = (e4: string) => (type === 'f32' ? `${name}[${e4}]` : `${name}At4(${e4})`); // a vec4f
    // Checked, the loads give zeros outside the operand; unchecked, they take no bounds. `load` fetches the step's
    // values into the invocation's registers (as f16, or split: as f32), `store` puts them into the tile (split: x
    // times the operand's scale s, as hi = f16(x s) into the tile and lo = f16(x s - hi) into its twin).
    const kept = split ? 'vec4f' : 'vec4<f16>';
    const put = (v: string, t: string) => `${t}[at] = ${v}.x; ${t}[at + 1u] = ${v}.y; ${t}[at + 2u] = ${v}.z; ${t}[at + 3u] = ${v}.w;`;
    const stage = /* wgsl */ `
${steps.map((s) => `var<private> next${fn}${s}: ${kept};`).join('\n')}
fn load${fn}(i0: u32, k0: u32, t: u32) {
${steps.map((s) => `  let e${s} = i0 + ${i(s)};
  let c${s} = k0 + ${q(s)};
${checked
    ? `  let inside${s} = e${s} < p.${extent} && c${s} < p.k;
  next${fn}${s} = ${kept}(select(vec4f(0.0), ${read(`select(0u, ${index(`e${s}`, `c${s}`)}, inside${s})`)}, inside${s}));`
    : `  next${fn}${s} = ${kept}(${read(index(`e${s}`, `c${s}`))});`}`).join('\n')}
}
fn store${fn}(t: u32) {
${steps.map((s) => split
    ? `  { let at = ${tileAt(s)}; let v = next${fn}${s} * scale${fn}; let h = roundToF16(v); let hi = vec4<f16>(h); let lo = vec4<f16>(v - h); ${put('hi', tile)} ${put('lo', `${tile}Lo`)} }`
    : `  { let at = ${tileAt(s)}; ${put(`next${fn}${s}`, tile)} }`).join('\n')}
}`;
    // A k-contiguous fragment is read with its k along the tile's rows: row-major for A (m x k), column-major for
    // B (k x n), and the other way round for the extent-contiguous layout.
    const columnMajor = kContiguous === (name === 'b');
    const fragment = (f: number, s: number, from = tile) => {
      const along = `${base} * ${size / 2}u + ${f * FRAGMENT}u`;
      const offset = kContiguous ? `(${along}) * ${stride}u + ${s * FRAGMENT}u` : `${s * FRAGMENT * stride}u + ${along}`;
      return `subgroupMatrixLoad<${fragmentType}, ${columnMajor ? 'col_major' : 'row_major'}>(&${from}, ${offset}, ${stride}u)`;
    };
    const binding = type === 'f32' ? `@group(0) @binding(${name === 'a' ? 1 : 2}) var<storage, read> ${name}: array<vec4f>;` : weightReader(name, 2, type, 4);
    return { stage, fragment, binding, fragments: size / 2 / FRAGMENT };
  };
  const A = operand('a', 'm', ROWS, layout !== 'TN', 'f32');
  const B = operand('b', 'n', cols, layout === 'NT', bType);
  const rows = [...Array(A.fragments).keys()];
  const columns = [...Array(B.fragments).keys()];
  const pairs = rows.flatMap((i) => columns.map((j) => [i, j] as const));
  const mma = (a: string, b: string, acc: string) => `      ${acc} = subgroupMatrixMultiplyAccumulate(${a}, ${b}, ${acc});`;
  // Split: per row of fragments, lo hi + hi lo, then hi hi (the small terms first); lo lo (2^-22 of hi hi) is left out.
  const multiply = [...Array(step / FRAGMENT).keys()].map((s) => split ? `    {
${columns.map((f) => `      let b${f} = ${B.fragment(f, s)};\n      let bLo${f} = ${B.fragment(f, s, 'tileBLo')};`).join('\n')}
${rows.map((i) => `      {
      let a = ${A.fragment(i, s)};
      let aLo = ${A.fragment(i, s, 'tileALo')};
${columns.map((j) => [mma('aLo', `b${j}`, `acc${i}${j}`), mma('a', `bLo${j}`, `acc${i}${j}`), mma('a', `b${j}`, `acc${i}${j}`)].join('\n')).join('\n')}
      }`).join('\n')}
    }` : `    {
${rows.map((f) => `      let a${f} = ${A.fragment(f, s)};`).join('\n')}
${columns.map((f) => `      let b${f} = ${B.fragment(f, s)};`).join('\n')}
${pairs.map(([i, j]) => mma(`a${i}`, `b${j}`, `acc${i}${j}`)).join('\n')}
    }`).join('\n');
  // Fragment (i, j) of the subgroup's quarter starts at out row r, column c.
  const corner = (i: number, j: number) => [`row0 + sr * ${ROWS / 2}u + ${i * FRAGMENT}u`, `col0 + sc * ${cols / 2}u + ${j * FRAGMENT}u`];
  const direct = pairs.map(([i, j]) => {
    const [r, c] = corner(i, j);
    return `    subgroupMatrixStore<row_major>(&out, base + (${r}) * p.rowOut + ${c}, acc${i}${j}, p.rowOut);`;
  }).join('\n');
  const guarded = pairs.map(([i, j]) => {
    const [r, c] = corner(i, j);
    return `    subgroupMatrixStore<row_major>(&scratch, sg * 256u, acc${i}${j}, 16u);
    workgroupBarrier();
    storeEdge(${r}, ${c}, sg, t % 32u);
    workgroupBarrier();`;
  }).join('\n');
  return /* wgsl */ `
enable f16;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${A.binding}
${B.binding}
${split ? PARAMS.replace('@binding(3) var<uniform>', '@binding(4) var<uniform>') : PARAMS}
var<workgroup> tileA: array<f16, ${tileHalves(ROWS, step)}>;
var<workgroup> tileB: array<f16, ${tileHalves(cols, step)}>;${split ? `
var<workgroup> tileALo: array<f16, ${tileHalves(ROWS, step)}>;
var<workgroup> tileBLo: array<f16, ${tileHalves(cols, step)}>;
@group(0) @binding(3) var<storage, read> amax: array<u32, 2>; // |A|'s and |B|'s largest value, as f32 bits
var<private> scaleA: f32;
var<private> scaleB: f32;
${SPLIT}` : ''}
var<workgroup> scratch: array<f32, ${4 * FRAGMENT * FRAGMENT}>; // a 16 x 16 fragment per subgroup
${A.stage}
${B.stage}
// Lane's share of the fragment in scratch whose corner is out (r, c): the part inside out.
fn storeEdge(r: u32, c: u32, sg: u32, lane: u32) {
  for (var e = lane; e < 256u; e += 32u) {
    let row = r + e / 16u;
    let col = c + e % 16u;
    if (row < p.m && col < p.n) { out[base + row * p.rowOut + col] = scratch[sg * 256u + e]; }
  }
}

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let sg = t / 32u;
  let sr = sg / 2u;
  let sc = sg % 2u;
  let row0 = wg.y * ${ROWS}u;
  let col0 = wg.x * ${cols}u;
  if (maskedTile(row0, col0)) { return; }
${pairs.map(([i, j]) => `  var acc${i}${j} = subgroup_matrix_result<f32, 16, 16>();`).join('\n')}
${split ? '  scaleA = scaleFor(amax[0]);\n  scaleB = scaleFor(amax[1]);\n' : ''}  let ks = layerRange(wg.z, row0, col0, ${step}u);
  loadA(row0, ks.x, t);
  loadB(col0, ks.x, t);
  for (var k0 = ks.x; k0 < ks.y; k0 += ${step}u) {
    storeA(t);
    storeB(t);
    workgroupBarrier();
    if (k0 + ${step}u < ks.y) { loadA(row0, k0 + ${step}u, t); loadB(col0, k0 + ${step}u, t); }
${multiply}
    workgroupBarrier();
  }
${split ? `  // Back from the scales (powers of 2: exact), one at a time, so that their product cannot leave f32's range.
  let unA = 1.0 / scaleA;
  let unB = 1.0 / scaleB;
${pairs.map(([i, j]) => `  acc${i}${j} = subgroupMatrixScalarMultiply(subgroupMatrixScalarMultiply(acc${i}${j}, unA), unB);`).join('\n')}
` : ''}  if (row0 + ${ROWS}u <= p.m && col0 + ${cols}u <= p.n) {
${direct}
  } else {
${guarded}
  }
}`;
}

/**
 * WGSL of the split: `scaleFor(bits)`, 2^(14 - e) for an operand whose largest |value| (as f32 bits) is 2^e times
 * 1..2, so that the operand times it stays within 2^15 (f16's range), and at most 2^126, so that 1 / scale is an f32
 * normal (a GPU may flush subnormals to 0); and `roundToF16(v)`, v rounded to f16's 11 significant bits (to nearest,
 * ties to even) as f32, in integer arithmetic on the bits. An f16 conversion might serve, but need not round (Mesa's
 * lavapipe keeps all of f32's bits), and then lo = v - hi would be 0. Below 2^-14 (2^-28 of the operand's largest,
 * after scaling) f16 has fewer bits, and hi is rounded again as it is stored.
 */
export const SPLIT = /* wgsl */ `
fn scaleFor(bits: u32) -> f32 { return bitcast<f32>(u32(clamp(268 - i32((bits >> 23u) & 0xffu), 1, 253)) << 23u); }
fn roundToF16(v: vec4f) -> vec4f {
  let b = bitcast<vec4u>(v);
  return bitcast<vec4f>((b + 0xfffu + ((b >> vec4u(13u)) & vec4u(1u))) & vec4u(0xffffe000u));
}`;

const sources = new Map<string, string>();

/** Whether the device's workgroup memory takes the split kernel (four tiles and the scratch: 28 KB). */
export const tensorCoreSplitFits = (gpu: Gpu): boolean => gpu.tensorCores && 2 * 2 * tileHalves(ROWS, SPLIT_STEP) * 2 + 4 * FRAGMENT * FRAGMENT * 4 <= gpu.maxWorkgroupStorage;

// amax[0] = max |a|, amax[1] = max |b| over their vec4s (as f32 bits: for non-negative floats, ordered as u32),
// where amax holds zeros: each workgroup strides over both operands, then one atomic max each.
const AMAX = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> amax: array<atomic<u32>, 2>;
@group(0) @binding(1) var<storage, read> a: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<vec4f>;
struct Params { a4: u32, b4: u32 }
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> part: array<atomic<u32>, 2>;
fn largest(v: vec4f) -> u32 { let u = bitcast<vec4u>(abs(v)); return max(max(u.x, u.y), max(u.z, u.w)); }
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3u, @builtin(local_invocation_index) t: u32, @builtin(num_workgroups) groups: vec3u) {
  let stride = groups.x * 256u;
  var ma = 0u;
  for (var i = id.x; i < p.a4; i += stride) { ma = max(ma, largest(a[i])); }
  var mb = 0u;
  for (var i = id.x; i < p.b4; i += stride) { mb = max(mb, largest(b[i])); }
  atomicMax(&part[0], ma);
  atomicMax(&part[1], mb);
  workgroupBarrier();
  if (t == 0u) { atomicMax(&amax[0], atomicLoad(&part[0])); atomicMax(&amax[1], atomicLoad(&part[1])); }
}`;
const ZERO2 = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> amax: array<u32, 2>;
@compute @workgroup_size(1) fn main() { amax[0] = 0u; amax[1] = 0u; }`;
const AMAX_GROUPS = 264; // two per multiprocessor of an H100

/**
 * out (m, n) = A B as `layout` says, with A and B rounded to f16 (see above); B is stored as `bType` says (NT only:
 * a 16-bit weight, read through halves.ts). Needs `gpu.tensorCores`. `params` and `layers` as matmul.ts gives its
 * own kernel (PARAMS: k chunks, or a batch of products, one per workgroup layer).
 * `split` (f32 operands of `elements` values each, unbatched) multiplies them to 22 of f32's 24 bits instead, on the
 * split kernel (see above).
 */
export function tensorCoreMatmul(gpu: Gpu, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, params: Param[], layers: number, layout: MatmulLayout, bType: WeightType, split?: { elements: [number, number] }): void {
  const [m, k, n] = params as [number, number, number];
  // Attention's products with n = Dh <= 64 would leave half of a 128-wide tile idle.
  const cols = tileColumns(n);
  // Where out is whole tiles and k whole steps, no load needs bounds, and none is checked: on an H100, NT 4096^3 ran
  // at 106 TFLOP/s with the checks and 138 without.
  const checked = m % ROWS !== 0 || n % cols !== 0 || k % (split ? SPLIT_STEP : STEP) !== 0;
  const key = `${layout} ${bType} ${checked} ${cols} ${!!split}`;
  let wgsl = sources.get(key);
  if (!wgsl) sources.set(key, (wgsl = source(layout, bType, checked, cols, !!split)));
  const groups: [number, number, number] = [Math.ceil(n / cols), Math.ceil(m / ROWS), layers];
  if (!split) return gpu.dispatch(wgsl, [out, a, b], params, groups);
  const amax = gpu.alloc(16);
  gpu.dispatch(ZERO2, [amax], [], [1]);
  const [a4, b4] = split.elements.map((e) => e / 4) as [number, number];
  gpu.dispatch(AMAX, [amax, a, b], [a4, b4], [Math.min(AMAX_GROUPS, Math.ceil(Math.max(a4, b4) / 256))]);
  gpu.dispatch(wgsl, [out, a, b, amax], params, groups);
  gpu.free(amax); // the commands recorded above still read it first
}
