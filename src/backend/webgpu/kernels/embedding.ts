// Embedding lookup and its backward. Ids are i32 in GPU memory, so the host cannot check them without a read: ids
// outside [0, vocab), which the CPU and WASM backends reject with an ArgumentError, give zero rows in the forward and
// add nothing in the backward here; no kernel reads out of bounds.
import { FLAT_INDEX, type Gpu } from '../gpu.js';

// out (count, dim): row n = table row ids[n]; one invocation per element.
const EMBEDDING = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
struct Params { n: u32, vocab: u32, dim: u32 }
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  let token = ids[i / p.dim];
  if (token < 0 || u32(token) >= p.vocab) { out[i] = 0.0; return; }
  out[i] = table[u32(token) * p.dim + i % p.dim];
}`;

// dtable (vocab, dim): element (v, d) = sum of dy[n, d] over the n with ids[n] = v, in order of n. One invocation per
// element of dtable, each scanning all ids: O(vocab dim count) work but deterministic, with no float atomics and
// no zero-fill first (neighbouring invocations share v, so they read the same ids).
const EMBEDDING_BACKWARD = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
struct Params { n: u32, count: u32, dim: u32 }
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  let v = i32(i / p.dim);
  let d = i % p.dim;
  var acc = 0.0;
  for (var n = 0u; n < p.count; n++) {
    if (ids[n] == v) { acc += dy[n * p.dim + d]; }
  }
  dtable[i] = acc;
}`;

/** out (count, dim) = rows of table (vocab, dim) picked by ids (count, i32); zero rows for ids outside [0, vocab). */
export function embedding(gpu: Gpu, out: GPUBuffer, table: GPUBuffer, ids: GPUBuffer, count: number, vocab: number, dim: number): void {
  const n = count * dim;
  if (n > 0) gpu.dispatch1d(EMBEDDING, [out, table, ids], [n, vocab, dim], n);
}

/** dtable (vocab, dim) = dy (count, dim) scattered-added by ids (count); zeros for ids that do not occur. */
export function embeddingBackward(gpu: Gpu, dtable: GPUBuffer, dy: GPUBuffer, ids: GPUBuffer, count: number, vocab: number, dim: number): void {
  const n = vocab * dim;
  if (n > 0) gpu.dispatch1d(EMBEDDING_BACKWARD, [dtable, dy, ids], [n, count, dim], n);
}
