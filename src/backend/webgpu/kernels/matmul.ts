// Matrix products for linear layers and their backward: out (m, n) = A (m, k) B (k, n), with A and B read in the
// layout their tensors have, so no transposed copies are made:
//   NT: A (m, k), B stored (n, k)  -> x w^T     (linear: x (rows, in), w (out, in))
//   NN: A (m, k), B stored (k, n)  -> dy w      (dx of a linear)
//   TN: A stored (k, m), B (k, n)  -> dy^T x    (dw of a linear)
// A 64 x 64 tile of out per workgroup of 256, 4 x 4 outputs per invocation, k in steps of 16 through workgroup
// memory; loads are mapped so that neighbouring invocations read neighbouring addresses in either layout.
// A few rows of x against w (NT, decode) take the mat-vec kernel instead: a tile would idle all but those rows.
import { MAX_GROUPS_X, type Gpu } from '../gpu.js';

export type MatmulLayout = 'NT' | 'NN' | 'TN';
export const NT: MatmulLayout = 'NT';
export const NN: MatmulLayout = 'NN';
export const TN: MatmulLayout = 'TN';

const TILE = 64;
const STEP = 16;

function source(layout: MatmulLayout): string {
  // Element (row, q) of A and (q, col) of B, and which tile coordinate runs along memory for coalesced loads.
  const aRowMajor = layout !== 'TN';
  const bRowMajor = layout !== 'NT'; // B stored (k, n)
  const aIndex = aRowMajor ? 'row * p.k + q' : 'q * p.m + row';
  const bIndex = bRowMajor ? 'q * p.n + col' : 'col * p.k + q';
  // For a tile element e in 0..1023: (tile row or column, step) so that consecutive e follow the stored axis.
  const aCoords = aRowMajor ? 'let r = e / 16u; let s = e % 16u;' : 'let r = e % 64u; let s = e / 64u;';
  const bCoords = bRowMajor ? 'let c = e % 64u; let s = e / 64u;' : 'let c = e / 16u; let s = e % 16u;';
  return /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
struct Params { m: u32, k: u32, n: u32 }
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> tileA: array<f32, ${TILE * STEP}>; // [step][row]
var<workgroup> tileB: array<f32, ${TILE * STEP}>; // [step][col]

fn loadA(row: u32, q: u32) -> f32 {
  if (row >= p.m || q >= p.k) { return 0.0; }
  return a[${aIndex}];
}
fn loadB(q: u32, col: u32) -> f32 {
  if (col >= p.n || q >= p.k) { return 0.0; }
  return b[${bIndex}];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let row0 = wg.y * ${TILE}u;
  let col0 = wg.x * ${TILE}u;
  let lid = vec2u(t % 16u, t / 16u);
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.k; k0 += ${STEP}u) {
    for (var i = 0u; i < 4u; i++) {
      let e = t + i * 256u;
      { ${aCoords} tileA[s * ${TILE}u + r] = loadA(row0 + r, k0 + s); }
      { ${bCoords} tileB[s * ${TILE}u + c] = loadB(k0 + s, col0 + c); }
    }
    workgroupBarrier();
    for (var s = 0u; s < ${STEP}u; s++) {
      let av = vec4f(tileA[s * ${TILE}u + lid.y * 4u], tileA[s * ${TILE}u + lid.y * 4u + 1u], tileA[s * ${TILE}u + lid.y * 4u + 2u], tileA[s * ${TILE}u + lid.y * 4u + 3u]);
      let bv = vec4f(tileB[s * ${TILE}u + lid.x * 4u], tileB[s * ${TILE}u + lid.x * 4u + 1u], tileB[s * ${TILE}u + lid.x * 4u + 2u], tileB[s * ${TILE}u + lid.x * 4u + 3u]);
      for (var r = 0u; r < 4u; r++) {
        for (var c = 0u; c < 4u; c++) { acc[r * 4u + c] += av[r] * bv[c]; }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let row = row0 + lid.y * 4u + r;
    for (var c = 0u; c < 4u; c++) {
      let col = col0 + lid.x * 4u + c;
      if (row < p.m && col < p.n) { out[row * p.n + col] = acc[r * 4u + c]; }
    }
  }
}`;
}

const sources = { NT: source('NT'), NN: source('NN'), TN: source('TN') };

/** Rows of x up to which NT products run as mat-vecs. */
const MATVEC_ROWS = 8;

/**
 * out (m, n) = x (m, k) w^T for m <= MATVEC_ROWS: one workgroup per row j of w, which its 64 invocations read
 * once, coalesced, for all m rows of x; their partial sums meet in a tree in workgroup memory.
 */
const MATVEC = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
struct Params { m: u32, k: u32, n: u32 }
@group(0) @binding(3) var<uniform> p: Params;
var<workgroup> partial: array<f32, ${64 * MATVEC_ROWS}>; // [row][invocation]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32) {
  let j = wg.x + wg.y * ${MAX_GROUPS_X}u;
  if (j >= p.n) { return; }
  var acc: array<f32, ${MATVEC_ROWS}>;
  for (var q = t; q < p.k; q += 64u) {
    let wq = w[j * p.k + q];
    for (var r = 0u; r < p.m; r++) { acc[r] += wq * x[r * p.k + q]; }
  }
  for (var r = 0u; r < p.m; r++) { partial[r * 64u + t] = acc[r]; }
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var r = 0u; r < p.m; r++) { partial[r * 64u + t] += partial[r * 64u + t + s]; }
    }
    workgroupBarrier();
  }
  if (t == 0u) {
    for (var r = 0u; r < p.m; r++) { out[r * p.n + j] = partial[r * 64u]; }
  }
}`;

/** out (m, n) = A B as `layout` says (see above). */
export function matmul(gpu: Gpu, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, m: number, k: number, n: number, layout: MatmulLayout): void {
  if (m === 0 || n === 0) return;
  if (layout === 'NT' && m <= MATVEC_ROWS) {
    gpu.dispatch(MATVEC, [out, a, b], [m, k, n], n <= MAX_GROUPS_X ? [n] : [MAX_GROUPS_X, Math.ceil(n / MAX_GROUPS_X)]);
  } else {
    gpu.dispatch(sources[layout], [out, a, b], [m, k, n], [Math.ceil(n / TILE), Math.ceil(m / TILE)]);
  }
}
