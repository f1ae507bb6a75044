// Rotary position embedding on x (batch, time, heads, headDim): interleaved pairs (x[2i], x[2i+1]) rotated by angle
// (startPos + t) invFreq[i]; one invocation per pair.
//
// Accuracy. The reference takes f64 cos and sin of the f32 angle Math.fround(pos * invFreq[i]). Here the angle is the
// same f32 product, kept rounded: the xor with p.zero (always 0) hides it from the compiler, which may otherwise fuse
// it into the first subtraction below (an fma) and reduce the unrounded product, off by up to half an ulp of the angle
// (2.4e-4 at 4096). WGSL's sin and cos are accurate only on [-pi, pi] (GPUs reduce larger arguments in f32, off by
// ~|angle| 2^-24), so the angle is first reduced mod 2pi in f32 with 2pi split in three (Cody-Waite): k C1 and k C2
// have 8 significant bits each and are exact for |k| < 2^16 (angles up to ~4e5), so the reduced angle carries one
// rounding, ~1.2e-7. Measured on lavapipe against f64 cos/sin: at most 1.6e-7 for positions up to 131072.
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';

const ROPE = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> invFreq: array<f32>;
struct Params { n: u32, half: u32, heads: u32, time: u32, startPos: u32, zero: u32, direction: f32 }
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let k = flatIndex(id); // pair k is (x[2k], x[2k+1]), k = ((b time + t) heads + h) half + i
  if (k >= p.n) { return; }
  let i = k % p.half;
  let t = k / p.half / p.heads % p.time;
  let angle = bitcast<f32>(bitcast<u32>(f32(p.startPos + t) * invFreq[i]) ^ p.zero);
  // angle - 2pi round(angle / 2pi), with 2pi = 6.28125 + 0.0019378662109375 - 2.5590313512680041e-6
  let turns = round(angle * 0.15915494309189535);
  let r = ((angle - turns * 6.28125) - turns * 0.0019378662109375) + turns * 2.5590313512680041e-6;
  let c = cos(r);
  let s = p.direction * sin(r);
  let x0 = x[2u * k];
  let x1 = x[2u * k + 1u];
  out[2u * k] = x0 * c - x1 * s;
  out[2u * k + 1u] = x0 * s + x1 * c;
}`;

/** direction 1: rotate by +angle (forward); -1: by -angle (backward). */
export function rope(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, invFreq: GPUBuffer, batch: number, time: number, heads: number, headDim: number, startPos: number, direction: 1 | -1): void {
  const half = headDim / 2;
  const n = batch * time * heads * half;
  if (n > 0) gpu.dispatch1d(ROPE, [out, x, invFreq], [n, half, heads, time, startPos, 0, f32(direction)], n);
}
