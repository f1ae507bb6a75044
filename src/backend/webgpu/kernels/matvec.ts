// Mat-vecs: outs[i] (m, n_i) = x (m, k) w_i^T for the few rows of decode (m <= MATVEC_ROWS), up to 3 weights w_i
// (n_i, k) in one dispatch (Q/K/V, gate/up). Each row j of the stacked weights is read once, coalesced, for all m
// rows of x, by a group of 16 to 64 invocations (about 8 loads each: short rows share a workgroup of 64, 4 rows of
// 576 to a workgroup, so that fewer, fuller invocations do the work and the reduction is shorter); their partial sums
// meet through subgroup shuffles where the device has subgroups, else in a tree in workgroup memory. Each load takes
// 16 bytes of weights where k allows: 4 f32 (k a multiple of 4) or 8 f16/bf16 (k a multiple of 8; tinyllama's f16
// rows decoded at 0.85 TB/s on an H100 with two 4-byte loads per 4 halves). The weights are stored as `weight` says
// (halves.ts).
//
// Decode was bound by dispatches on the host, so a mat-vec also does the cheap op on either side of it:
//   norm:     x is first rmsnorm(x) * g (each workgroup sums x^2 itself, from the loads of x it makes anyway);
//   swiglu:   x is first silu(x) * up (x holds the gate);
//   residual: out0 + res is written too (the residual add after the attention and feed-forward outputs);
//   rope:     q and k are rotated and k and v written to their caches too (the q/k/v mat-vecs; see MatvecFusion).
// A fused kernel still writes the output of the kernel it replaces (workgroup 0 writes the normalized or gated x), so
// any later reader finds it. swiglu and the add are computed with the expressions of their kernels, bit for bit; the
// norm scales the product's sum instead of each element of x, and sums x^2 in another order than rmsnorm.ts: the
// same values up to f32 rounding.
import { f32, MAX_GROUPS_X, type Gpu } from '../gpu.js';
import { weightReader, type ReadWidth, type WeightType } from './halves.js';
import { ROPE_COS_SIN, type RopeJobs } from './rope.js';

/** Rows of x up to which NT products run as mat-vecs. */
const MATVEC_ROWS = 8;

/** Whether x (m, k) w^T runs as a mat-vec (matvecs), which reads weights in any WeightType, or as a tiled product. */
export function isMatvec(m: number): boolean {
  return m <= MATVEC_ROWS;
}

/** What a mat-vec folds in on either side (see the top of this file). Buffers are f32, laid out as x's (m, k). */
export interface MatvecFusion {
  /** x is rmsnorm(x) * weight first; the normalized x is written to `out`. */
  norm?: { weight: GPUBuffer; eps: number; out: GPUBuffer };
  /** x (the gate) is silu(x) * up first; that product is written to `out`. */
  swiglu?: { up: GPUBuffer; out: GPUBuffer };
  /** With one weight: out = res + outs[0] (m, n0) too. */
  residual?: { res: GPUBuffer; out: GPUBuffer };
  /**
   * Decode's RoPE and cache writes (rope.ts), done on the outputs: each rotation's x and the copy's src are among
   * `outs`, the rows of x are batch x time, and the direction is forward. A rotation pairs rows 2i and 2i + 1 of its
   * output, which the kernel has at hand when a workgroup makes both (at most 32 lanes a row).
   */
  rope?: RopeJobs;
}

/** Storage buffers a mat-vec of `count` weights binds with `fusion`. */
export function matvecBindings(count: number, fusion: MatvecFusion = {}): number {
  const { rope } = fusion;
  const ropeBuffers = rope ? 1 + rope.rotations.reduce((n, r) => n + (r.cache ? 2 : 1), 0) + (rope.copy ? 1 : 0) : 0;
  return 2 * count + 1 + (fusion.norm || fusion.swiglu ? 2 : 0) + (fusion.residual ? 2 : 0) + ropeBuffers;
}

/** What the epilogue does to output i besides writing it: rotate it (to another buffer, and a cache), copy it to a cache. */
type OutputRope = 'rotate' | 'rotate+cache' | 'copy' | 'none';

type Prologue = 'none' | 'norm' | 'swiglu';

/**
 * The kernel for `rows` rows of x of width k and `lanes` invocations a weight row, constants of the source: each row's
 * sums are then variables the compiler keeps in registers (indexed by a row count known only at run time, they went
 * to local memory on NVIDIA), and each invocation's loop has a constant trip count.
 */
function matvecSource(count: number, k: number, width: ReadWidth, weight: WeightType, prologue: Prologue, residual: boolean, rope: OutputRope[] | undefined, rows: number, lanes: number, subgroups: boolean): string {
  const vec = width > 1;
  const type = vec ? 'vec4f' : 'f32';
  const per = vec ? 4 : 1; // floats per element of x's array
  const parts = width / per; // elements of x's array per weight read
  const norm = prologue === 'norm';
  const ids = [...Array(count).keys()];
  const each = (code: (r: number) => string, by = '\n') => [...Array(rows).keys()].map(code).join(by);
  const bindings: string[] = [];
  const bind = (decl: string) => `@group(0) @binding(${bindings.push(decl) - 1}) ${decl}`;
  const decls = [
    ...ids.map((i) => bind(`var<storage, read_write> out${i}: array<f32>;`)),
    bind(`var<storage, read> x: array<${type}>;`),
    ...ids.map((i) => weightReader(`w${i}`, bindings.push('') - 1, weight, width)),
    ...(norm ? [bind(`var<storage, read> g: array<${type}>;`), bind(`var<storage, read_write> side: array<${type}>;`)] : []),
    ...(prologue === 'swiglu' ? [bind(`var<storage, read> up: array<${type}>;`), bind(`var<storage, read_write> side: array<${type}>;`)] : []),
    ...(residual ? [bind('var<storage, read> res: array<f32>;'), bind('var<storage, read_write> resOut: array<f32>;')] : []),
    ...(rope ? [bind('var<storage, read> invFreq: array<f32>;'), ...rope.flatMap((what, i) => [
      ...(what.startsWith('rotate') ? [bind(`var<storage, read_write> rotated${i}: array<f32>;`)] : []),
      ...(what === 'rotate+cache' || what === 'copy' ? [bind(`var<storage, read_write> cache${i}: array<f32>;`)] : []),
    ])] : []),
  ];
  // Element e = r kv + c of x as the product reads it. rmsnorm's 1 / rms(x_r) is known only once the workgroup has
  // summed x_r^2, which it does alongside the product, from the same loads: the product takes x g, and its sum is
  // scaled at the end. The swiglu is the swiglu kernel's expression (elementwise.ts), so that fusion is bit for bit.
  const input = { none: 'x[e]', norm: 'x[e] * g[c]', swiglu: 'x[e] / (1.0 + exp(-x[e])) * up[e]' }[prologue];
  const weightPart = width === 8 ? (u: number) => `wq[${u}]` : () => 'wq';
  // Each invocation makes `trips` weight reads of the row: a constant count (k is a constant of the source), so the
  // compiler can issue a row's loads together instead of waiting on each in turn.
  const reads = k / width;
  const trips = Math.ceil(reads / lanes);
  const multiply = (a: string, b: string) => (vec ? `dot(${a}, ${b})` : `${a} * ${b}`);
  // The row of weight i that this workgroup reads: rows are numbered through w_0, w_1, ... in turn.
  const segment = (i: number) => `j < ${ids.slice(0, i + 1).map((d) => `p.n${d}`).join(' + ')}`;
  const start = (i: number) => (i === 0 ? '0u' : ids.slice(0, i).map((d) => `p.n${d}`).join(' + '));
  // Sums reduced over the workgroup, per row r of x: the product's at partial[r], with norm x^2's at partial[rows + r].
  const sums = norm ? 2 : 1;
  const slots = [...Array(rows * sums).keys()];
  const forSlots = (code: (i: number) => string) => slots.map(code).join(' ');
  // Each group's sums to partial[.][base]: a tree in workgroup memory, or, with subgroups (runs of consecutive
  // invocations, see Gpu.subgroups), a butterfly of shuffles within each subgroup (every lane ends with the same sum:
  // f32 addition commutes), then the subgroups' sums of a group that spans several, added by its first lane.
  const reduce = subgroups ? `let within = min(${lanes}u, sgSize);
  for (var s = within / 2u; s > 0u; s >>= 1u) {
    ${forSlots((i) => `acc[${i}] += subgroupShuffleXor(acc[${i}], s);`)}
  }
  if (${lanes}u > sgSize) {
    if (t % sgSize == 0u) { ${forSlots((i) => `partial[${i}][t] = acc[${i}];`)} }
    workgroupBarrier();
    if (lane == 0u) {
      for (var s = sgSize; s < ${lanes}u; s += sgSize) { ${forSlots((i) => `acc[${i}] += partial[${i}][t + s];`)} }
    }
  }
  if (lane == 0u) { ${forSlots((i) => `partial[${i}][t] = acc[${i}];`)} }
  workgroupBarrier();` : `${forSlots((i) => `partial[${i}][t] = acc[${i}];`)}
  workgroupBarrier();
  for (var s = ${lanes / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) {
      ${forSlots((i) => `partial[${i}][t] += partial[${i}][t + s];`)}
    }
    workgroupBarrier();
  }`;
  // Output i's rope work for row r of x, in the epilogue (y: its value at o). The pair's other row (row xor 1) is the
  // neighbouring group's: rows 2i, 2i + 1 make (a, b), rotated as rope.ts does. Cache row: b cacheLen + cachePos + t.
  const ropeEpilogue = (i: number, r: number) => {
    const what = rope![i]!;
    if (what === 'none') return '';
    const cacheAt = `((${r}u / p.time) * p.cacheLen + p.cachePos + ${r}u % p.time) * p.n${i} + row`;
    if (what === 'copy') return `\n        cache${i}[${cacheAt}] = y;`;
    return `
        let other = partial[${r}][base ^ ${lanes}u]${norm ? ` * scale[${r}]` : ''};
        let odd = (row & 1u) == 1u;
        let cs = ropeCosSin(p.startPos + ${r}u % p.time, invFreq[row / 2u % p.half], p.zero);
        let a = select(y, other, odd);
        let b = select(other, y, odd);
        let z = select(a * cs.x - b * cs.y, a * cs.y + b * cs.x, odd);
        rotated${i}[o] = z;${what === 'rotate+cache' ? `\n        cache${i}[${cacheAt}] = z;` : ''}`;
  };
  return /* wgsl */ `${subgroups ? 'enable subgroups;\n' : ''}
${decls.join('\n')}
struct Params { m: u32, k: u32, ${ids.map((i) => `n${i}: u32`).join(', ')}, eps: f32${rope ? ', half: u32, time: u32, startPos: u32, zero: u32, cacheLen: u32, cachePos: u32' : ''} }
@group(0) @binding(${bindings.length}) var<uniform> p: Params;
var<workgroup> partial: array<array<f32, 64>, ${rows * sums}>; // [sum and row][invocation]
${rope ? ROPE_COS_SIN : ''}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) t: u32${subgroups ? ', @builtin(subgroup_size) sgSize: u32' : ''}) {
  // ${64 / lanes} rows j of the stacked weights a workgroup, ${lanes} invocations (a group) each; base: the group's first.
  let lane = t % ${lanes}u;
  let base = t - lane;
  let j = (wg.x + wg.y * ${MAX_GROUPS_X}u) * ${64 / lanes}u + t / ${lanes}u;
  let valid = j < ${start(count)};
  let kv = ${k / per}u; // elements of x's array per row
  var acc: array<f32, ${rows * sums}>;
  if (valid) { ${ids.map((i) => `${i > 0 ? 'else ' : ''}if (${segment(i)}) {
    let row = j - (${start(i)});
    for (var s = 0u; s < ${trips}u; s++) {
      let q = lane + s * ${lanes}u;${trips * lanes > reads ? `
      if (q >= ${reads}u) { break; }` : ''}
      let wq = w${i}At${width > 1 ? width : ''}(row * ${reads}u + q);
      ${each((r) => [...Array(parts).keys()].map((u) => `{
        let c = q${parts > 1 ? ` * ${parts}u + ${u}u` : ''};
        let e = ${r}u * kv + c;
        acc[${r}] += ${multiply(weightPart(u), input)};${norm ? `
        acc[${rows + r}] += ${multiply('x[e]', 'x[e]')};` : ''}
      }`).join('\n      '))}
    }
  }`).join(' ')} }
  ${reduce}
  // Every group summed all of x^2, in the same order; group 0 is one that ran.
  ${norm ? `var scale: array<f32, ${rows}>; // 1 / rms of each row of x
  ${each((r) => `scale[${r}] = 1.0 / sqrt(partial[${rows + r}][0] / f32(p.k) + p.eps);`, ' ')}` : ''}
  ${prologue !== 'none' ? `if (wg.x == 0u && wg.y == 0u) { // the unfused op's output
    ${each((r) => `for (var q = t; q < kv; q += 64u) { let e = ${r}u * kv + q; side[e] = ${norm ? `x[e] * scale[${r}] * g[q]` : input}; }`)}
  }` : ''}
  if (lane == 0u && valid) {
    ${ids.map((i) => `${i > 0 ? 'else ' : ''}if (${segment(i)}) {
      ${each((r) => `{
        let row = j - (${start(i)});
        let o = ${r}u * p.n${i} + row;
        let y = partial[${r}][base]${norm ? ` * scale[${r}]` : ''};
        out${i}[o] = y;${residual ? '\n        resOut[o] = res[o] + y;' : ''}${rope ? ropeEpilogue(i, r) : ''}
      }`)}
    }`).join(' ')}
  }
}`;
}
const matvecSources = new Map<string, string>();

/**
 * outs[i] (m, n_i) = x (m, k) w_i^T for m <= MATVEC_ROWS, the weights stored as `weight` says, with `fusion` folded
 * in: up to 3 weights in one dispatch (more are split, unfused).
 */
export function matvecs(gpu: Gpu, outs: GPUBuffer[], x: GPUBuffer, ws: GPUBuffer[], m: number, k: number, ns: number[], weight: WeightType = 'f32', fusion: MatvecFusion = {}): void {
  if (ws.length > 3) {
    ws.forEach((w, i) => matvecs(gpu, [outs[i]!], x, [w], m, k, [ns[i]!], weight));
    return;
  }
  const rows = ns.reduce((a, b) => a + b, 0);
  if (m === 0 || rows === 0) return;
  const { norm, swiglu, residual, rope } = fusion;
  const prologue: Prologue = norm ? 'norm' : swiglu ? 'swiglu' : 'none';
  // Weights are read 4 elements at a time, and 16-bit ones 8 (one 16-byte load), where k allows.
  const width: ReadWidth = k % 8 === 0 && weight !== 'f32' ? 8 : k % 4 === 0 ? 4 : 1;
  // Invocations a row: enough for about 8 loads each, 16 to 64 (short rows then share a workgroup; with RoPE at
  // most 32, so that a workgroup makes both rows of a pair).
  const lanes = Math.min(rope ? 32 : 64, Math.max(16, 2 ** Math.floor(Math.log2(k / width / 8))));
  const ropeOutputs = rope && outputRope(rope, outs, m);
  const key = `${ws.length} ${k} ${width} ${weight} ${prologue} ${!!residual} ${ropeOutputs?.what} ${m} ${lanes} ${gpu.subgroups}`;
  let wgsl = matvecSources.get(key);
  if (!wgsl) matvecSources.set(key, (wgsl = matvecSource(ws.length, k, width, weight, prologue, !!residual, ropeOutputs?.what, m, lanes, gpu.subgroups)));
  const extra = [
    ...(norm ? [norm.weight, norm.out] : swiglu ? [swiglu.up, swiglu.out] : []), ...(residual ? [residual.res, residual.out] : []),
    ...(rope ? [rope.invFreq, ...ropeOutputs!.buffers] : []),
  ];
  const ropeParams = rope ? [rope.half, rope.time, rope.startPos, 0, rope.cacheLen, rope.cachePos] : [];
  const groups = Math.ceil(rows / (64 / lanes));
  gpu.dispatch(wgsl, [...outs, x, ...ws, ...extra], [m, k, ...ns, f32(norm?.eps ?? 0), ...ropeParams], groups <= MAX_GROUPS_X ? [groups] : [MAX_GROUPS_X, Math.ceil(groups / MAX_GROUPS_X)]);
}

/**
 * What the epilogue does to each of outs for `rope`, and the buffers that binds, in the kernel's order (see
 * MatvecFusion.rope, whose conditions this checks).
 */
function outputRope(rope: RopeJobs, outs: GPUBuffer[], m: number): { what: OutputRope[]; buffers: GPUBuffer[] } {
  const read = [...rope.rotations.map((r) => r.x), ...(rope.copy ? [rope.copy.src] : [])];
  if (rope.direction !== 1 || rope.batch * rope.time !== m || read.some((b) => !outs.includes(b))) {
    throw new Error('webgpu: RoPE folds into a mat-vec only forward, over its rows, and on its outputs');
  }
  const what: OutputRope[] = [];
  const buffers: GPUBuffer[] = [];
  for (const out of outs) {
    const rotation = rope.rotations.find((r) => r.x === out);
    if (rotation) buffers.push(rotation.out, ...(rotation.cache ? [rotation.cache] : []));
    else if (rope.copy?.src === out) buffers.push(rope.copy.dst);
    what.push(rotation ? (rotation.cache ? 'rotate+cache' : 'rotate') : rope.copy?.src === out ? 'copy' : 'none');
  }
  return { what, buffers };
}
