// Weights kept in 16 bits on the GPU (f16 or bf16, as the file stores them): half the memory and half the bytes a
// decode step reads. WGSL storage has no 16-bit type without the shader-f16 feature, so they are u32 words of two
// elements (element e in word e / 2, the low half first) and decoded where they are read: unpack2x16float for f16,
// a shift into the top of an f32 for bf16. Kernels that read weights take one of these readers.
import { FLAT_INDEX, type Gpu } from '../gpu.js';

/** How a weight tensor is stored on the GPU. */
export type WeightType = 'f32' | 'f16' | 'bf16';

/**
 * Elements a weight reader returns per read: 1 (`${name}At(e) -> f32`), 4 (`${name}At4(e4) -> vec4f`, elements
 * 4 e4 .. 4 e4 + 3) or 8 (`${name}At8(e8) -> mat2x4f`, elements 8 e8 .. 8 e8 + 7 as two columns; 16-bit weights
 * only). Each read is one load: of an f32, a vec4f, or (16-bit weights) a u32, vec2<u32> or vec4<u32> of halves.
 */
export type ReadWidth = 1 | 4 | 8;

/** WGSL declaring storage `name` (at `binding`) of a `type` weight, with the reader for `width` (ReadWidth). */
export function weightReader(name: string, binding: number, type: WeightType, width: ReadWidth = 1): string {
  if (type === 'f32') {
    if (width === 8) throw new Error('f32 weights are read at most 4 at a time');
    return width === 4
      ? /* wgsl */ `@group(0) @binding(${binding}) var<storage, read> ${name}: array<vec4f>;
fn ${name}At4(e4: u32) -> vec4f { return ${name}[e4]; }`
      : /* wgsl */ `@group(0) @binding(${binding}) var<storage, read> ${name}: array<f32>;
fn ${name}At(e: u32) -> f32 { return ${name}[e]; }`;
  }
  const pair = type === 'f16'
    ? (u: string) => `unpack2x16float(${u})`
    : (u: string) => `vec2f(bitcast<f32>(${u} << 16u), bitcast<f32>(${u} & 0xffff0000u))`;
  const declare = (word: string) => `@group(0) @binding(${binding}) var<storage, read> ${name}: array<${word}>;`;
  if (width === 8) {
    return /* wgsl */ `${declare('vec4<u32>')}
fn ${name}At8(e8: u32) -> mat2x4f { let h = ${name}[e8]; return mat2x4f(vec4f(${pair('h.x')}, ${pair('h.y')}), vec4f(${pair('h.z')}, ${pair('h.w')})); }`;
  }
  return width === 4
    ? /* wgsl */ `${declare('vec2<u32>')}
fn ${name}At4(e4: u32) -> vec4f { let h = ${name}[e4]; return vec4f(${pair('h.x')}, ${pair('h.y')}); }`
    : /* wgsl */ `${declare('u32')}
fn ${name}At(e: u32) -> f32 { return ${pair(`${name}[e / 2u]`)}[e % 2u]; }`;
}

const toF32Sources = new Map<WeightType, string>();

/** out (n f32) = the n elements of weight w stored as `type`. */
export function weightToF32(gpu: Gpu, out: GPUBuffer, w: GPUBuffer, n: number, type: WeightType): void {
  let wgsl = toF32Sources.get(type);
  if (!wgsl) {
    toF32Sources.set(type, (wgsl = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${weightReader('w', 1, type)}
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  out[i] = wAt(i);
}`));
  }
  if (n > 0) gpu.dispatch1d(wgsl, [out, w], [n], n);
}
