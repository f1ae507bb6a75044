// Rotary position embedding on x (batch, time, heads, headDim): interleaved pairs (x[2i], x[2i+1]) rotated by angle
// (startPos + t) invFreq[i]; one invocation per pair.
//
// In decode one dispatch does all of attention's inputs (see RopeJobs): q and k rotated, k written to its cache as
// well, and v copied into its cache: four dispatches in one, since decode is bound by dispatches. Usually the q/k/v
// mat-vec does these jobs itself (matvec.ts); this kernel does them where they cannot join it.
//
// Accuracy. The reference takes f64 cos and sin of the f32 angle Math.fround(pos * invFreq[i]). Here the angle is the
// same f32 product, kept rounded: the xor with p.zero (always 0) hides it from the compiler, which may otherwise fuse
// it into the first subtraction below (an fma) and reduce the unrounded product, off by up to half an ulp of the angle
// (2.4e-4 at 4096). WGSL's sin and cos are accurate only on [-pi, pi] (GPUs reduce larger arguments in f32, off by
// ~|angle| 2^-24), so the angle is first reduced mod 2pi in f32 with 2pi split in three (Cody-Waite): k C1 and k C2
// have 8 significant bits each and are exact for |k| < 2^16 (angles up to ~4e5), so the reduced angle carries one
// rounding, ~1.2e-7. Measured on lavapipe against f64 cos/sin: at most 1.6e-7 for positions up to 131072.
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';

/**
 * Rotations of x's (batch, time, heads, 2 half) by one RoPE, with optional cache writes: a rotation's result also goes
 * to `cache` (batch, cacheLen, heads, 2 half) at row cachePos, and `copy` copies src (batch, time, row) into dst
 * (batch, cacheLen, row) at row cachePos.
 */
export interface RopeJobs {
  invFreq: GPUBuffer;
  batch: number;
  time: number;
  half: number;
  startPos: number;
  direction: 1 | -1;
  rotations: { out: GPUBuffer; x: GPUBuffer; heads: number; cache?: GPUBuffer }[];
  copy?: { src: GPUBuffer; dst: GPUBuffer; row: number };
  cacheLen: number;
  cachePos: number;
}

/**
 * WGSL: cos and sin of the angle pos freq (see the top of this file; `zero` is a parameter that is always 0). Also
 * used where the q/k/v mat-vec rotates its outputs itself (matvec.ts).
 */
export const ROPE_COS_SIN = /* wgsl */ `
fn ropeCosSin(pos: u32, freq: f32, zero: u32) -> vec2f {
  let angle = bitcast<f32>(bitcast<u32>(f32(pos) * freq) ^ zero);
  // angle - 2pi round(angle / 2pi), with 2pi = 6.28125 + 0.0019378662109375 - 2.5590313512680041e-6
  let turns = round(angle * 0.15915494309189535);
  let r = ((angle - turns * 6.28125) - turns * 0.0019378662109375) + turns * 2.5590313512680041e-6;
  return vec2f(cos(r), sin(r));
}`;

function ropeSource(caches: boolean[], copy: boolean): string {
  const bindings: string[] = [];
  const bind = (decl: string) => `@group(0) @binding(${bindings.push(decl) - 1}) ${decl}`;
  const decls = [
    bind('var<storage, read> invFreq: array<f32>;'),
    ...caches.flatMap((cache, j) => [
      bind(`var<storage, read_write> out${j}: array<f32>;`),
      bind(`var<storage, read> x${j}: array<f32>;`),
      ...(cache ? [bind(`var<storage, read_write> cache${j}: array<f32>;`)] : []),
    ]),
    ...(copy ? [bind('var<storage, read> src: array<f32>;'), bind('var<storage, read_write> dst: array<f32>;')] : []),
  ];
  // Pair k of rotation j is (x[2k], x[2k+1]), k = ((b time + t) heads + h) half + i; its row in a cache is
  // b cacheLen + cachePos + t.
  const rotation = (j: number, cache: boolean) => `{
    let perBatch = p.time * p.heads${j} * p.half;
    let cs = rotationAt(k, p.heads${j});
    let c = cs.x;
    let s = cs.y;
    let a = x${j}[2u * k];
    let b = x${j}[2u * k + 1u];
    let y = vec2f(a * c - b * s, a * s + b * c);
    out${j}[2u * k] = y.x;
    out${j}[2u * k + 1u] = y.y;${cache ? `
    let ck = (k / perBatch * p.cacheLen + p.cachePos) * p.heads${j} * p.half + k % perBatch;
    cache${j}[2u * ck] = y.x;
    cache${j}[2u * ck + 1u] = y.y;` : ''}
  }`;
  const ends = caches.map((_, j) => [...caches.keys()].slice(0, j + 1).map((i) => `p.n${i}`).join(' + '));
  return /* wgsl */ `${FLAT_INDEX}
${decls.join('\n')}
struct Params { ${caches.map((_, j) => `n${j}: u32, heads${j}: u32`).join(', ')}, nCopy: u32, row: u32, half: u32, time: u32, startPos: u32, zero: u32, direction: f32, cacheLen: u32, cachePos: u32 }
@group(0) @binding(${bindings.length}) var<uniform> p: Params;

${ROPE_COS_SIN}
// cos and sin of pair k's angle (startPos + t) invFreq[i], times direction for sin.
fn rotationAt(k: u32, heads: u32) -> vec2f {
  let cs = ropeCosSin(p.startPos + k / p.half / heads % p.time, invFreq[k % p.half], p.zero);
  return vec2f(cs.x, p.direction * cs.y);
}

@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  var k = flatIndex(id);
  ${caches.map((cache, j) => `if (k < ${ends[j]}) {
    k -= ${j === 0 ? '0u' : ends[j - 1]};
    ${rotation(j, cache)}
    return;
  }`).join('\n  ')}${copy ? `
  let e = k - (${ends.at(-1)});
  if (e < p.nCopy) {
    let perBatch = p.time * p.row;
    dst[(e / perBatch * p.cacheLen + p.cachePos) * p.row + e % perBatch] = src[e];
  }` : ''}
}`;
}
const ropeSources = new Map<string, string>();

/** Storage buffers that `jobs` binds. */
export function ropeBindings(jobs: RopeJobs): number {
  return 1 + jobs.rotations.reduce((n, r) => n + (r.cache ? 3 : 2), 0) + (jobs.copy ? 2 : 0);
}

/** Record the rotations and copies of `jobs` in one dispatch. */
export function ropeJobs(gpu: Gpu, jobs: RopeJobs): void {
  const { batch, time, half, rotations, copy } = jobs;
  const caches = rotations.map((r) => r.cache !== undefined);
  const key = `${caches} ${!!copy}`;
  let wgsl = ropeSources.get(key);
  if (!wgsl) ropeSources.set(key, (wgsl = ropeSource(caches, !!copy)));
  const pairs = rotations.map((r) => batch * time * r.heads * half);
  const nCopy = copy ? batch * time * copy.row : 0;
  const n = pairs.reduce((a, b) => a + b, nCopy);
  const buffers = [jobs.invFreq, ...rotations.flatMap((r) => [r.out, r.x, ...(r.cache ? [r.cache] : [])]), ...(copy ? [copy.src, copy.dst] : [])];
  const params = [...rotations.flatMap((r, j) => [pairs[j]!, r.heads]), nCopy, copy?.row ?? 0, half, time, jobs.startPos, 0, f32(jobs.direction), jobs.cacheLen, jobs.cachePos];
  if (n > 0) gpu.dispatch1d(wgsl, buffers, params, n);
}

/** direction 1: rotate by +angle (forward); -1: by -angle (backward). */
export function rope(gpu: Gpu, out: GPUBuffer, x: GPUBuffer, invFreq: GPUBuffer, batch: number, time: number, heads: number, headDim: number, startPos: number, direction: 1 | -1): void {
  ropeJobs(gpu, { invFreq, batch, time, half: headDim / 2, startPos, direction, rotations: [{ out, x, heads }], cacheLen: 0, cachePos: 0 });
}
