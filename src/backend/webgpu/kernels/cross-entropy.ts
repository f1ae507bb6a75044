// The output layer fused with cross-entropy (cpu/cross-entropy.ts): for x (N, D), w (V, D),
//   logits = x w^T;  loss = sum over rows with target >= 0 of logsumexp(logits) - logits[target]
// and with grads: dlogits = scale (softmax(logits) - onehot(target)) (0 on ignored rows), dx = dlogits w,
// dw = dlogits^T x. Rows go a chunk at a time through the scratch buffer, so at most a chunk of logits exists at
// once (one chunk, without copies, when they all fit); the row losses are kept and summed by one workgroup at the
// end, in a fixed order (no atomics), so the loss is deterministic.
import { f32, FLAT_INDEX, type Gpu } from '../gpu.js';
import { fill } from './elementwise.js';
import { matmul, NN, NT, TN, type MatmulInputs } from './matmul.js';
import { sum } from './optimizer.js';
import { ROW_OF, workgroupReduce } from './reduce.js';

/**
 * Logits per chunk: as many as one binding holds, up to 1 GiB. Big chunks matter: dx = dlogits w is a product with
 * k = vocab and m = the chunk's rows, and few rows leave most of the GPU idle (512 rows: 24 workgroups).
 */
const chunkFloats = (maxBinding: number): number => Math.min(Math.floor(maxBinding / 4), 1 << 28);
const NAN_BITS = 0x7fc00000;

function chunkRows(rows: number, vocab: number, maxBinding: number): number {
  return Math.max(1, Math.min(rows, Math.floor((chunkFloats(maxBinding) - rows) / vocab)));
}

// One workgroup per row r of a chunk of `rows` logits rows (vocab wide) at the start of scratch: the row's loss to
// scratch[lossAt + start + r] (0 when its target is < 0, NaN when >= vocab, which the CPU backend rejects), and with
// grads, dlogits over the logits in place.
const ROW = /* wgsl */ `${ROW_OF}${workgroupReduce('rowMax', 'f32', 'max')}${workgroupReduce('rowSum', 'f32', 'sum')}
@group(0) @binding(0) var<storage, read_write> scratch: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
struct Params { rows: u32, vocab: u32, start: u32, lossAt: u32, scale: f32, grads: u32, nan: u32 }
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let r = rowOf(wg);
  if (r >= p.rows) { return; }
  let base = r * p.vocab;
  let tgt = targets[p.start + r];
  let valid = tgt >= 0 && u32(tgt) < p.vocab;
  var mx = -3.0e38;
  for (var c = lid; c < p.vocab; c += 64u) { mx = max(mx, scratch[base + c]); }
  mx = rowMax(lid, mx);
  var sum = 0.0;
  for (var c = lid; c < p.vocab; c += 64u) { sum += exp(scratch[base + c] - mx); }
  var picked = 0.0; // logits[target], read before the barriers below, after which the row is overwritten
  if (valid) { picked = scratch[base + u32(tgt)]; }
  sum = rowSum(lid, sum);
  if (lid == 0u) {
    var loss = 0.0;
    if (valid) { loss = mx + log(sum) - picked; } else if (tgt >= 0) { loss = bitcast<f32>(p.nan); }
    scratch[p.lossAt + p.start + r] = loss;
  }
  if (p.grads != 0u) {
    for (var c = lid; c < p.vocab; c += 64u) {
      var g = 0.0;
      if (tgt >= 0) { g = p.scale * exp(scratch[base + c] - mx) / sum - select(0.0, p.scale, i32(c) == tgt); }
      scratch[base + c] = g;
    }
  }
}`;

// out += x, for dw over chunks.
const ACCUMULATE = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
struct Params { n: u32 }
@group(0) @binding(2) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  out[i] += x[i];
}`;

/** f32 elements of scratch `crossEntropy` needs: one chunk of logits, then the rows' losses. */
export function crossEntropyScratch(rows: number, vocab: number, maxBinding: number): number {
  return chunkRows(rows, vocab, maxBinding) * vocab + rows;
}

/**
 * loss (1) of the rows of x (N, D) against targets (N, i32) through w (V, D); with grads, also dx (N, D) and
 * dw (V, D) of grads.scale * loss. scratch holds crossEntropyScratch(rows, vocab, gpu.maxBinding) elements.
 */
export function crossEntropy(gpu: Gpu, loss: GPUBuffer, x: GPUBuffer, w: GPUBuffer, targets: GPUBuffer, scratch: GPUBuffer, rows: number, dim: number, vocab: number, inputs: MatmulInputs, grads?: { dx: GPUBuffer; dw: GPUBuffer; scale: number }): void {
  const chunk = chunkRows(rows, vocab, gpu.maxBinding);
  const lossAt = chunk * vocab;
  const single = chunk >= rows; // then x, dx and dw are used as they are, else through chunk-sized buffers
  const temps: GPUBuffer[] = [];
  const temp = (bytes: number): GPUBuffer => {
    const b = gpu.alloc(bytes);
    temps.push(b);
    return b;
  };
  const xc = single ? x : temp(chunk * dim * 4);
  const dxc = grads && (single ? grads.dx : temp(chunk * dim * 4));
  const dwc = grads && !single ? temp(vocab * dim * 4) : undefined;
  for (let start = 0; start < rows; start += chunk) {
    const count = Math.min(chunk, rows - start);
    if (!single) gpu.copy(x, start * dim * 4, xc, 0, count * dim * 4);
    matmul(gpu, scratch, xc, w, count, dim, vocab, NT, inputs); // logits (count, V)
    gpu.dispatch1d(ROW, [scratch, targets], [count, vocab, start, lossAt, f32(grads?.scale ?? 0), grads ? 1 : 0, NAN_BITS], count * 64);
    if (!grads || !dxc) continue;
    matmul(gpu, dxc, scratch, w, count, vocab, dim, NN, inputs); // dx rows = dlogits w
    if (!single) gpu.copy(dxc, 0, grads.dx, start * dim * 4, count * dim * 4);
    if (start === 0) {
      matmul(gpu, grads.dw, scratch, xc, vocab, count, dim, TN, inputs); // dw = dlogits^T x
    } else {
      matmul(gpu, dwc!, scratch, xc, vocab, count, dim, TN, inputs);
      gpu.dispatch1d(ACCUMULATE, [grads.dw, dwc!], [vocab * dim], vocab * dim);
    }
  }
  if (grads && rows === 0) fill(gpu, grads.dw, vocab * dim, 0);
  sum(gpu, loss, scratch, rows, lossAt);
  for (const t of temps) gpu.free(t); // the commands recorded above still run first
}
