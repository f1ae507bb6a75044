// Elementwise kernels: one invocation per element (flatIndex spreads big tensors over x and y).
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';

/** The WGSL of an n-element map: `body` assigns out[i] (and more outputs) from the bindings named in `decls`. */
export function map(decls: string, body: string, params = 'n: u32'): string {
  return /* wgsl */ `${FLAT_INDEX}
${decls}
struct Params { ${params} }
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  ${body}
}`;
}

const FILL = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;`, 'out[i] = p.value;', 'n: u32, value: f32');

const ADD = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;`, 'out[i] = a[i] + b[i];');

const SCALE = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, 'out[i] = x[i] * p.s;', 'n: u32, s: f32');

// silu(g) u = g sigmoid(g) u
const SWIGLU = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;`, `let g = gate[i];
  out[i] = g / (1.0 + exp(-g)) * up[i];`);

// d/dg [g s(g)] = s(g) (1 + g (1 - s(g))); d/du = silu(g)
const SWIGLU_BACKWARD = map(`@group(0) @binding(0) var<storage, read_write> dgate: array<f32>;
@group(0) @binding(1) var<storage, read_write> dup: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;
@group(0) @binding(4) var<storage, read> up: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;`, `let g = gate[i];
  let s = 1.0 / (1.0 + exp(-g));
  dgate[i] = dy[i] * up[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = dy[i] * g * s;`);

// dst[dstAt + i] = src[srcAt + i]: a copy as a kernel, so it stays in the compute pass (a buffer-to-buffer copy
// would end the pass, and each new pass costs the host more than a dispatch).
const COPY = map(`@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, 'dst[p.dstAt + i] = src[p.srcAt + i];', 'n: u32, dstAt: u32, srcAt: u32');

/** Copy n f32 from src (starting at element srcAt) to dst (at element dstAt). */
export function copy(gpu: Gpu, dst: GPUBuffer, dstAt: number, src: GPUBuffer, srcAt: number, n: number): void {
  if (n > 0) gpu.dispatch1d(COPY, [dst, src], [n, dstAt, srcAt], n);
}

const COPY_COLUMNS = map(`@group(0) @binding(0) var<storage, read_write> dst: array<f32>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;`, 'dst[i / p.width * p.dstWidth + p.first + i % p.width] = src[i];', 'n: u32, width: u32, dstWidth: u32, first: u32');

/** Columns [first, first + width) of dst (rows, dstWidth) = src (rows, width). */
export function copyColumns(gpu: Gpu, dst: GPUBuffer, src: GPUBuffer, rows: number, dstWidth: number, first: number, width: number): void {
  if (rows * width > 0) gpu.dispatch1d(COPY_COLUMNS, [dst, src], [rows * width, width, dstWidth, first], rows * width);
}

// Dropout: keep element i when hash32(i + seedHash) >= threshold (the mask of backend/cpu/dropout.ts, bit for bit).
export const HASH32 = /* wgsl */ `
fn hash32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u; h *= 0x7feb352du; h ^= h >> 15u; h *= 0x846ca68bu; h ^= h >> 16u;
  return h;
}`;
const DROPOUT = map(`@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;${HASH32}`, 'out[i] = select(0.0, x[i] * p.scale, hash32(i + p.seedHash) >= p.threshold);', 'n: u32, seedHash: u32, threshold: u32, scale: f32');

/** out = x * scale where hash32(i + seedHash) >= threshold, else 0 (see backend/cpu/dropout.ts). */
export function dropout(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, n: number, d: { seedHash: number; threshold: number; scale: number }): void {
  if (n > 0) gpu.dispatch1d(DROPOUT, [out, x], [n, d.seedHash, d.threshold, f32(d.scale)], n);
}

export function fill(gpu: Gpu, out: GPUBuffer, n: number, value: number): void {
  if (n > 0) gpu.dispatch1d(FILL, [out], [n, f32(value)], n);
}

export function add(gpu: Gpu, out: GPUBuffer, a: GPUBuffer, b: GPUBuffer, n: number): void {
  if (n > 0) gpu.dispatch1d(ADD, [out, a, b], [n], n);
}

export function scale(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, n: number, s: number): void {
  if (n > 0) gpu.dispatch1d(SCALE, [out, x], [n, f32(s)], n);
}

export function swiglu(gpu: Gpu, out: GPUBuffer, gate: GPUBuffer, up: GPUBuffer, n: number): void {
  if (n > 0) gpu.dispatch1d(SWIGLU, [out, gate, up], [n], n);
}

export function swigluBackward(gpu: Gpu, dgate: GPUBuffer, dup: GPUBuffer, dy: GPUBuffer, gate: GPUBuffer, up: GPUBuffer, n: number): void {
  if (n > 0) gpu.dispatch1d(SWIGLU_BACKWARD, [dgate, dup, dy, gate, up], [n], n);
}
