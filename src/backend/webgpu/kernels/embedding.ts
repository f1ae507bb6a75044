// Embedding lookup and its backward. The backend checks ids on the host (it keeps the ids it uploaded); the forward
// still writes zero rows for ids outside [0, vocab), so no kernel reads out of bounds whatever it is given.
import { FLAT_INDEX, type Gpu } from '../gpu.js';
import { weightReader, type WeightType } from './halves.js';

// out (count, dim): row n = table row ids[n] (the table stored as `type` says); one invocation per element. The
// table may be rows [first, first + rows) of a larger one (split across bindings): ids outside are skipped, and
// written as zeros by the part with first = 0.
const embeddingSource = (type: WeightType) => /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
${weightReader('table', 1, type)}
@group(0) @binding(2) var<storage, read> ids: array<i32>;
struct Params { n: u32, rows: u32, dim: u32, first: u32 }
@group(0) @binding(3) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  let token = ids[i / p.dim] - i32(p.first);
  if (token < 0 || u32(token) >= p.rows) {
    if (p.first == 0u) { out[i] = 0.0; }
    return;
  }
  out[i] = tableAt(u32(token) * p.dim + i % p.dim);
}`;
const EMBEDDING = { f32: embeddingSource('f32'), f16: embeddingSource('f16'), bf16: embeddingSource('bf16') };

// dtable (vocab, dim): element (v, d) = sum of dy[n, d] over the n with ids[n] = v, in order of n. The host sorts the
// positions by id (counting sort, stable): rows start[v]..start[v+1] of order are the n of id v. One invocation per
// element of dtable: O((vocab + count) dim) work, deterministic, no float atomics.
const EMBEDDING_BACKWARD = /* wgsl */ `${FLAT_INDEX}
@group(0) @binding(0) var<storage, read_write> dtable: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> start: array<u32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
struct Params { n: u32, dim: u32 }
@group(0) @binding(4) var<uniform> p: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let i = flatIndex(id);
  if (i >= p.n) { return; }
  let v = i / p.dim;
  let d = i % p.dim;
  var acc = 0.0;
  for (var j = start[v]; j < start[v + 1u]; j++) { acc += dy[order[j] * p.dim + d]; }
  dtable[i] = acc;
}`;

/**
 * out (count, dim) = rows of table picked by ids (count, i32), where table holds rows [first, first + rows) of the
 * embedding (all of it: first 0): the ids outside are left as they are, or with first 0 made zero rows.
 */
export function embedding(gpu: Gpu, out: GPUBuffer, table: GPUBuffer, ids: GPUBuffer, count: number, { first, rows }: { first: number; rows: number }, dim: number, type: WeightType = 'f32'): void {
  const n = count * dim;
  if (n > 0) gpu.dispatch1d(EMBEDDING[type], [out, table, ids], [n, rows, dim, first], n);
}

/** dtable (vocab, dim) = dy (count, dim) scattered-added by ids (host copy, all in [0, vocab)); zeros for unseen ids. */
export function embeddingBackward(gpu: Gpu, dtable: GPUBuffer, dy: GPUBuffer, ids: Int32Array, vocab: number, dim: number): void {
  const n = vocab * dim;
  if (n === 0) return;
  const start = new Uint32Array(vocab + 1);
  for (const id of ids) start[id + 1]!++;
  for (let v = 0; v < vocab; v++) start[v + 1]! += start[v]!;
  const order = new Uint32Array(Math.max(1, ids.length));
  const next = start.slice(0, vocab);
  ids.forEach((id, pos) => (order[next[id]!++] = pos));
  const [startBuf, orderBuf] = [gpu.alloc(start.byteLength), gpu.alloc(order.byteLength)];
  gpu.write(startBuf, start);
  gpu.write(orderBuf, order);
  gpu.dispatch1d(EMBEDDING_BACKWARD, [dtable, dy, startBuf, orderBuf], [n, dim], n);
  gpu.free(startBuf);
  gpu.free(orderBuf);
}
