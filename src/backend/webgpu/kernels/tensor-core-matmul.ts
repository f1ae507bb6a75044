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
import type { Gpu, Param } from '../gpu.js';
import { weightReader, type WeightType } from './halves.js';
import { PARAMS, TILE as ROWS, tileColumns, type MatmulLayout } from './matmul.js';

const STEP = 32; // k per stage (64 measured slower on an H100: 16384x768x2048 forward 68 vs 85 TFLOP/s)
const FRAGMENT = 16;
const PAD = 8; // halves of padding per tile row

/** Halves of workgroup memory an operand's tile takes: `extent` rows or columns by STEP, padded. */
const tileHalves = (extent: number) => Math.max(extent * (STEP + PAD), STEP * (extent + PAD));

/** The kernel making tiles of ROWS x `cols` (128, or 64 for products with n <= 64: attention's heads). */
function source(layout: MatmulLayout, bType: WeightType, checked: boolean, cols: number): string {
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
    const loads = (STEP * size) / 4 / 128; // vec4s per invocation
    // Element (i, q) of the operand: at i * row + q (k-contiguous: tile [i][q], stride STEP + PAD), else at
    // q * row + i (tile [q][i], stride size + PAD). Invocation t's vec4 number s of the step is its vec4 at
    // (i, q) = (t / 8 + 16 s, 4 (t % 8)) of the step (k-contiguous: 8 invocations read 32 consecutive values of a
    // row), else (4 (t % w), t / w + (128 / w) s) with w = size / 4 (w invocations read size consecutive ones).
    const stride = kContiguous ? STEP + PAD : size + PAD;
    const perRow = kContiguous ? STEP / 4 : size / 4; // invocations per row of the operand's step
    const [i, q] = kContiguous
      ? [(s: number) => `t / ${perRow}u + ${(128 / perRow) * s}u`, () => `t % ${perRow}u * 4u`]
      : [() => `t % ${perRow}u * 4u`, (s: number) => `t / ${perRow}u + ${(128 / perRow) * s}u`];
    const index = kContiguous ? (e: string, c: string) => `(from${fn} + ${e} * p.row${fn} + ${c}) / 4u` : (e: string, c: string) => `(from${fn} + ${c} * p.row${fn} + ${e}) / 4u`;
    const tileAt = (s: number) => (kContiguous ? `(${i(s)}) * ${stride}u + ${q(s)}` : `(${q(s)}) * ${stride}u + ${i(s)}`);
    const steps = [...Array(loads).keys()];
    const read = (e4: string) => (type === 'f32' ? `${name}[${e4}]` : `${name}At4(${e4})`); // a vec4f
    // Checked, the loads give zeros outside the operand; unchecked, they take no bounds. `load` fetches the step's
    // values into the invocation's registers (as f16), `store` puts them into the tile.
    const stage = /* wgsl */ `
${steps.map((s) => `var<private> next${fn}${s}: vec4<f16>;`).join('\n')}
fn load${fn}(i0: u32, k0: u32, t: u32) {
${steps.map((s) => `  let e${s} = i0 + ${i(s)};
  let c${s} = k0 + ${q(s)};
${checked
    ? `  let inside${s} = e${s} < p.${extent} && c${s} < p.k;
  next${fn}${s} = vec4<f16>(select(vec4f(0.0), ${read(`select(0u, ${index(`e${s}`, `c${s}`)}, inside${s})`)}, inside${s}));`
    : `  next${fn}${s} = vec4<f16>(${read(index(`e${s}`, `c${s}`))});`}`).join('\n')}
}
fn store${fn}(t: u32) {
${steps.map((s) => `  { let at = ${tileAt(s)}; ${tile}[at] = next${fn}${s}.x; ${tile}[at + 1u] = next${fn}${s}.y; ${tile}[at + 2u] = next${fn}${s}.z; ${tile}[at + 3u] = next${fn}${s}.w; }`).join('\n')}
}`;
    // A k-contiguous fragment is read with its k along the tile's rows: row-major for A (m x k), column-major for
    // B (k x n), and the other way round for the extent-contiguous layout.
    const columnMajor = kContiguous === (name === 'b');
    const fragment = (f: number, s: number) => {
      const along = `${base} * ${size / 2}u + ${f * FRAGMENT}u`;
      const offset = kContiguous ? `(${along}) * ${stride}u + ${s * FRAGMENT}u` : `${s * FRAGMENT * stride}u + ${along}`;
      return `subgroupMatrixLoad<${fragmentType}, ${columnMajor ? 'col_major' : 'row_major'}>(&${tile}, ${offset}, ${stride}u)`;
    };
    const binding = type === 'f32' ? `@group(0) @binding(${name === 'a' ? 1 : 2}) var<storage, read> ${name}: array<vec4f>;` : weightReader(name, 2, type, 4);
    return { stage, fragment, binding, fragments: size / 2 / FRAGMENT };
  };
  const A = operand('a', 'm', ROWS, layout !== 'TN', 'f32');
  const B = operand('b', 'n', cols, layout === 'NT', bType);
  const rows = [...Array(A.fragments).keys()];
  const columns = [...Array(B.fragments).keys()];
  const pairs = rows.flatMap((i) => columns.map((j) => [i, j] as const));
  const multiply = [...Array(STEP / FRAGMENT).keys()].map((s) => `    {
${rows.map((f) => `      let a${f} = ${A.fragment(f, s)};`).join('\n')}
${columns.map((f) => `      let b${f} = ${B.fragment(f, s)};`).join('\n')}
${pairs.map(([i, j]) => `      acc${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, b${j}, acc${i}${j});`).join('\n')}
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
${PARAMS}
var<workgroup> tileA: array<f16, ${tileHalves(ROWS)}>;
var<workgroup> tileB: array<f16, ${tileHalves(cols)}>;
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
  let ks = layerRange(wg.z, row0, col0, ${STEP}u);
  loadA(row0, ks.x, t);
  loadB(col0, ks.x, t);
  for (var k0 = ks.x; k0 < ks.y; k0 += ${STEP}u) {
    storeA(t);
    storeB(t);
    workgroupBarrier();
    if (k0 + ${STEP}u < ks.y) { loadA(row0, k0 + ${STEP}u, t); loadB(col0, k0 + ${STEP}u, t); }
${multiply}
    workgroupBarrier();
  }
  if (row0 + ${ROWS}u <= p.m && col0 + ${cols}u <= p.n) {
${direct}
  } else {
${guarded}
  }
}`;
}

const sources = new Map<string, string>();

/**
 * out (m, n) = A B as `layout` says, with A and B rounded to f16 (see above); B is stored as `bType` says (NT only:
 * a 16-bit weight, read through halves.ts). Needs `gpu.tensorCores`. `params` and `layers` as matmul.ts gives its
 * own kernel (PARAMS: k chunks, or a batch of products, one per workgroup layer).
 */
export function tensorCoreMatmul(gpu: Gpu, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, params: Param[], layers: number, layout: MatmulLayout, bType: WeightType): void {
  const [m, k, n] = params as [number, number, number];
  // Attention's products with n = Dh <= 64 would leave half of a 128-wide tile idle.
  const cols = tileColumns(n);
  // Where out is whole tiles and k whole steps, no load needs bounds, and none is checked: on an H100, NT 4096^3 ran
  // at 106 TFLOP/s with the checks and 138 without.
  const checked = m % ROWS !== 0 || n % cols !== 0 || k % STEP !== 0;
  const key = `${layout} ${bType} ${checked} ${cols}`;
  let wgsl = sources.get(key);
  if (!wgsl) sources.set(key, (wgsl = source(layout, bType, checked, cols)));
  gpu.dispatch(wgsl, [out, a, b], params, [Math.ceil(n / cols), Math.ceil(m / ROWS), layers]);
}
