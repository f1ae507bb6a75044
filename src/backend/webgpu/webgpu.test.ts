/**
 * What the WebGPU backend promises beyond the conformance suite: memory that is freed deterministically, a clear
 * error for a buffer the device cannot hold, and training that gives the CPU backend's losses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../../core/dtype.js';
import { ArgumentError, UnsupportedError } from '../../core/errors.js';
import { Decoder } from '../../infer/decoder.js';
import { generate } from '../../infer/generate.js';
import { argmax } from '../../infer/sampler.js';
import { loadModel } from '../../io/load-model.js';
import { loadTokenizer } from '../../io/load-tokenizer.js';
import { assetPath, fixturePath } from '../../io/package-paths.js';
import { KvCache } from '../../model/kv-cache.js';
import { forward, type LlamaModel } from '../../model/llama.js';
import type { Tensor } from '../../tensor/tensor.js';
import { unavailable } from '../../testing/backends.js';
import { llamats, llamatsWithEnv } from '../../testing/run-cli.js';
import { CpuBackend } from '../cpu/cpu-backend.js';
import type { Ops } from '../ops.js';
import { getBackend } from '../registry.js';
import { GpuMemoryError } from './gpu.js';
import { flashAttentionSwitch } from './kernels/attention.js';
import { denseAttentionLimit } from './kernels/attention-dense.js';
import { matmul } from './kernels/matmul.js';
import { SPLIT } from './kernels/tensor-core-matmul.js';
import { WebGpuBackend } from './webgpu-backend.js';

/** Worst |got - want| / (1 + |want|). */
function worst(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < want.length; i++) w = Math.max(w, Math.abs(got[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
  return w;
}

describe('webgpu backend', { skip: unavailable.webgpu }, async () => {
  const ops = await WebGpuBackend.create();
  after(() => ops.dispose());

  test('tidy returns every intermediate to the pool: a forward-sized loop allocates nothing after its first pass', async () => {
    const x = ops.fromHost(Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(i)), [3, 64]);
    const w = ops.fromHost(Float32Array.from({ length: 64 * 64 }, (_, i) => Math.cos(i)), [64, 64]);
    const step = () => ops.tidy(() => ops.softmax(ops.add(ops.linear(x, w), ops.linear(x, w))));
    ops.release(step());
    const before = ops.gpu.allocatedBytes;
    for (let i = 0; i < 100; i++) ops.release(step());
    await ops.read(x);
    assert.equal(ops.gpu.allocatedBytes, before);
  });

  const data = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7 + seed) * 1.5);

  /**
   * `run(settle)` twice: with a read between its ops (`settle` true: a read records whatever is held, so nothing
   * fuses), then without; the values of each run and the dispatches each recorded.
   */
  const settledAndHeld = async <T>(run: (settle: boolean) => Promise<T>) => {
    let dispatches = 0;
    const dispatch = ops.gpu.dispatch.bind(ops.gpu);
    ops.gpu.dispatch = (...args) => void (dispatches++, dispatch(...args));
    try {
      const unfused = await run(true);
      const unfusedDispatches = dispatches;
      dispatches = 0;
      const fused = await run(false);
      return { unfused, fused, unfusedDispatches, fusedDispatches: dispatches };
    } finally {
      ops.gpu.dispatch = dispatch;
    }
  };

  test('decode fusions (rmsnorm and swiglu into the mat-vec after them, the residual add into the one before) give the unfused values, in fewer dispatches', async () => {
    const dim = 36; // not a multiple of 64 (the invocations' stride) nor of 16
    const hidden = 52;
    const x = ops.fromHost(data(2 * dim, 1), [2, dim]);
    const [norm, gateW, upW, downW] = [ops.fromHost(data(dim, 2), [dim]), ops.fromHost(data(hidden * dim, 3), [hidden, dim]), ops.fromHost(data(hidden * dim, 4), [hidden, dim]), ops.fromHost(data(dim * hidden, 5), [dim, hidden])];
    // The feed-forward half of a block.
    const block = async (settle: boolean) => {
      const pause = async (t: (typeof norm)) => void (settle && (await ops.read(t)));
      const n = ops.rmsnorm(x, norm, 1e-5);
      await pause(n);
      const [gate, up] = ops.linears(n, [gateW, upW]) as [typeof n, typeof n];
      const h = ops.swiglu(gate, up);
      await pause(h);
      const down = ops.linear(h, downW);
      await pause(down);
      const out = ops.add(x, down);
      return Promise.all([n, h, down, out].map((t) => ops.read(t)));
    };
    const { unfused, fused, unfusedDispatches, fusedDispatches } = await settledAndHeld(block);
    assert.equal(unfusedDispatches, 5); // rmsnorm, gate/up, swiglu, down, add
    assert.equal(fusedDispatches, 2); // rmsnorm + gate/up; swiglu + down + add
    // The fused norm sums x^2 in another order and scales the product's sum rather than each x: f32 rounding of sums
    // of 36 and 52 terms (1.5e-6 seen).
    fused.forEach((values, i) => {
      const d = worst(values, unfused[i]!);
      assert.ok(d < 1e-5, `${['normalized x', 'swiglu', 'down', 'residual sum'][i]}: max relative difference ${d}`);
    });
  });

  test('decode fusion of attention inputs (q and k rotated, k and v written to their caches) gives the unfused values bit for bit, in one dispatch', async () => {
    const [batch, time, heads, kvHeads, headDim, cacheLen, pos] = [2, 1, 3, 1, 6, 5, 3];
    const invFreq = ops.fromHost(Float32Array.from({ length: headDim / 2 }, (_, i) => 10000 ** (-2 * i / headDim)), [headDim / 2]);
    const [q, kk, v] = [heads, kvHeads, kvHeads].map((h, i) => ops.fromHost(data(batch * time * h * headDim, i), [batch, time, h, headDim]));
    const run = async (settle: boolean) => {
      const caches = [0, 1].map((i) => ops.fromHost(data(batch * cacheLen * kvHeads * headDim, 10 + i), [batch, cacheLen, kvHeads, headDim]));
      const pause = async (t: typeof q) => void (settle && (await ops.read(t)));
      const qr = ops.rope(q, invFreq, pos);
      await pause(qr);
      const kr = ops.rope(kk, invFreq, pos);
      await pause(kr);
      ops.writeAt(caches[0]!, kr, pos);
      await pause(caches[0]!);
      ops.writeAt(caches[1]!, v, pos);
      return Promise.all([qr, kr, ...caches].map((t) => ops.read(t)));
    };
    const { unfused, fused, unfusedDispatches, fusedDispatches } = await settledAndHeld(run);
    assert.equal(unfusedDispatches, 2 + 2 * batch); // two rotations, and a copy per batch row into each cache
    assert.equal(fusedDispatches, 1);
    fused.forEach((values, i) => assert.deepEqual(values, unfused[i], ['q', 'k', 'k cache', 'v cache'][i]));
  });

  test('decode fusion of the q/k/v mat-vecs with their rmsnorm, the rotations of q and k and the cache writes gives the unfused values, in one dispatch', async () => {
    // 2 rows of x (batch 2, one step), head size 6 (pairs 0-1, 2-3, 4-5), GQA 3 q heads to 1 kv head.
    const [batch, time, heads, kvHeads, headDim, cacheLen, pos, dim] = [2, 1, 3, 1, 6, 5, 3, 20];
    const invFreq = ops.fromHost(Float32Array.from({ length: headDim / 2 }, (_, i) => 10000 ** (-2 * i / headDim)), [headDim / 2]);
    const x = ops.fromHost(data(batch * time * dim, 1), [batch, time, dim]);
    const norm = ops.fromHost(data(dim, 2), [dim]);
    const [wq, wk, wv] = [heads, kvHeads, kvHeads].map((h, i) => ops.fromHost(data(h * headDim * dim, 3 + i), [h * headDim, dim]));
    const run = async (settle: boolean) => {
      const caches = [0, 1].map((i) => ops.fromHost(data(batch * cacheLen * kvHeads * headDim, 10 + i), [batch, cacheLen, kvHeads, headDim]));
      const pause = async (t: typeof x) => void (settle && (await ops.read(t)));
      const n = ops.rmsnorm(x, norm, 1e-5);
      await pause(n);
      const [xq, xk, xv] = ops.linears(n, [wq!, wk!, wv!]) as [typeof x, typeof x, typeof x];
      await pause(xv);
      const q = ops.rope(ops.reshape(xq, [batch, time, heads, headDim]), invFreq, pos);
      await pause(q);
      const k = ops.rope(ops.reshape(xk, [batch, time, kvHeads, headDim]), invFreq, pos);
      await pause(k);
      ops.writeAt(caches[0]!, k, pos);
      await pause(caches[0]!);
      ops.writeAt(caches[1]!, ops.reshape(xv, [batch, time, kvHeads, headDim]), pos);
      return Promise.all([n, xq, xk, xv, q, k, ...caches].map((t) => ops.read(t)));
    };
    const { unfused, fused, unfusedDispatches, fusedDispatches } = await settledAndHeld(run);
    assert.equal(unfusedDispatches, 4 + 2 * batch); // rmsnorm, q/k/v, two rotations, a copy per batch row into each cache
    assert.equal(fusedDispatches, 1);
    // The fused norm scales the sums (see the test above): f32 rounding of sums of 20 terms.
    fused.forEach((values, i) => {
      const d = worst(values, unfused[i]!);
      assert.ok(d < 1e-5, `${['normalized x', 'xq', 'xk', 'xv', 'q', 'k', 'k cache', 'v cache'][i]}: max relative difference ${d}`);
    });
  });

  for (const path of ['dense', 'tiled'] as const) {
    test(`attention over enough queries to take the ${path} kernels matches the reference (GQA, a cache offset)`, async () => {
      const reference = new CpuBackend();
      const [batch, time, heads, kvHeads, headDim, startPos] = [2, 1030, 4, 2, 8, 3];
      const data = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 2);
      const run = async (o: Ops) => {
        const q = o.fromHost(data(batch * time * heads * headDim), [batch, time, heads, headDim]);
        const kv = o.fromHost(data(batch * (startPos + time) * kvHeads * headDim).reverse(), [batch, startPos + time, kvHeads, headDim]);
        return o.read(o.attention(q, kv, kv, startPos));
      };
      const limit = denseAttentionLimit.bytes;
      if (path === 'tiled') denseAttentionLimit.bytes = 0;
      const got = await run(ops).finally(() => (denseAttentionLimit.bytes = limit));
      const want = await run(reference);
      const d = worst(got, want);
      assert.ok(d < 2e-5, `max relative difference ${d}`); // f32 sums in another order (the reference sums in f64)
    });
  }

  test('attention with dropout over a batch too large for one score matrix goes in chunks of sequences, with the mask of the whole', async () => {
    const reference = new CpuBackend();
    const [batch, time, heads, kvHeads, headDim] = [5, 9, 4, 2, 8];
    const data = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + seed));
    const dropout = { p: 0.3, seed: 12 };
    const run = async (o: Ops) => {
      const q = o.fromHost(data(batch * time * heads * headDim, 1), [batch, time, heads, headDim]);
      const [k, v] = [2, 3].map((seed) => o.fromHost(data(batch * time * kvHeads * headDim, seed), [batch, time, kvHeads, headDim])) as [Tensor, Tensor];
      const y = o.attention(q, k, v, 0, dropout);
      const { dq, dk, dv } = o.attentionBackward(y, q, k, v, dropout);
      return Promise.all([y, dq, dk, dv].map((t) => o.read(t)));
    };
    const limit = denseAttentionLimit.bytes;
    denseAttentionLimit.bytes = 2 * heads * time * time * 4; // two sequences a chunk: chunks of 2, 2 and 1
    const got = await run(ops).finally(() => (denseAttentionLimit.bytes = limit));
    const want = await run(reference);
    got.forEach((g, i) => assert.ok(worst(g, want[i]!) < 2e-5, `output ${i}: max relative difference ${worst(g, want[i]!)}`));
  });

  test('attention with dropout where one sequence\'s score matrix exceeds the dense path is an UnsupportedError naming the sizes', () => {
    const [q, kv] = [ops.fromHost(new Float32Array(2 * 8 * 4), [1, 8, 2, 4]), ops.fromHost(new Float32Array(2 * 8 * 4), [1, 8, 2, 4])];
    const limit = denseAttentionLimit.bytes;
    denseAttentionLimit.bytes = 8 * 8 * 2 * 4 - 1;
    try {
      assert.throws(() => ops.attention(q, kv, kv, 0, { p: 0.1, seed: 1 }), /webgpu attention: dense path: a score matrix of 512 bytes for one sequence \(2 heads x 8 x 8\), over the dense path's 511, with dropout on the probabilities is not supported yet/);
      assert.throws(() => ops.attentionBackward(q, q, kv, kv, { p: 0.1, seed: 1 }), UnsupportedError);
    } finally {
      denseAttentionLimit.bytes = limit;
      for (const t of [q, kv]) ops.release(t);
    }
  });

  test('a weight gradient over 1100 rows and one tile of output (k split in 4 chunks, then summed) matches the reference', async () => {
    const reference = new CpuBackend();
    const [rows, inF, outF] = [1100, 20, 24];
    const data = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const run = async (o: Ops) => {
      const { dx, dw } = o.linearBackward(o.fromHost(data(rows * outF, 1), [rows, outF]), o.fromHost(data(rows * inF, 2), [rows, inF]), o.fromHost(data(outF * inF, 3), [outF, inF]));
      return [await o.read(dx), await o.read(dw)];
    };
    const [got, want] = [await run(ops), await run(reference)];
    got.forEach((g, t) => {
      const d = worst(g, want[t]!);
      assert.ok(d < 1e-5, `${t ? 'dw' : 'dx'}: max relative difference ${d}`); // f32 sums of 1100 terms in another order
    });
  });

  test('the f16x3 split scales an operand under 2^15 by a power of 2 and rounds x s to the f16 hi, nearest and ties to even, with lo = x s - hi exact', async () => {
    const gpu = ops.gpu;
    // Values over 60 binades (both signs), zero, and ties: halfway between neighbouring f16 values at 1 (ulp 2^-10).
    const x = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i * 1.3) * 2 ** -(i % 60));
    x.set([0, 1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11)], 0);
    x[4] = 3; // the largest |x|: the scale is 2^13 and x[1..3] scale to ties at 2^13 (ulp 2^3)
    const bits = new Uint32Array(Float32Array.of(3).buffer)[0]!;
    const [input, out] = [gpu.alloc(x.length * 4), gpu.alloc(x.length * 8 + 32)];
    gpu.device.queue.writeBuffer(input, 0, x);
    gpu.dispatch(`@group(0) @binding(0) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(1) var<storage, read> x: array<vec4f>;
struct Params { amax: u32 }
@group(0) @binding(2) var<uniform> p: Params;
${SPLIT}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  let s = scaleFor(p.amax);
  let v = x[id.x] * s;
  let hi = roundToF16(v);
  out[id.x] = hi;
  out[64u + id.x] = v - hi;
  // and the scales of a largest value of 2^-120, of 0 and of inf: at most 2^126, at least 2^-114
  if (id.x == 0u) { out[128u] = vec4f(s); out[129u] = vec4f(scaleFor(0x03800000u), scaleFor(0u), scaleFor(0x7f800000u), 0.0); }
}`, [out, input], [bits], [1]);
    const got = new Float32Array(await gpu.read(out, x.length * 8 + 32));
    const scale = got[2 * x.length]!;
    assert.equal(scale, 2 ** 13);
    assert.deepEqual([...got.subarray(2 * x.length + 4, 2 * x.length + 7)], [2 ** 126, 2 ** 126, 2 ** -114]);
    for (let i = 0; i < x.length; i++) {
      const v = Math.fround(x[i]! * scale), hi = got[i]!, lo = got[x.length + i]!;
      assert.ok(Math.abs(v) < 2 ** 15, `x[${i}] s = ${v}`);
      if (Math.abs(v) >= 2 ** -14) assert.equal(hi, f16ToF32(f32ToF16(v)), `x[${i}] s = ${v}: hi`); // f16 normals
      assert.equal(hi + lo, v, `x[${i}]: hi + lo`);
      assert.ok(Math.abs(lo) <= Math.abs(v) * 2 ** -11, `x[${i}]: |lo| ${lo} of ${v}`);
    }
    assert.deepEqual([got[1], got[2], got[3]], [2 ** 13, 2 ** 13 + 2 ** 4, -(2 ** 13)], 'ties go to the even neighbour');
    gpu.free(input);
    gpu.free(out);
  });

  const noTensorCores = !ops.gpu.tensorCores && 'the adapter has no tensor cores (subgroup matrices)';
  test('f16x3 products on tensor cores (f32 operands split into two f16s) match f64 at f32\'s accuracy, across 30 binades', { skip: noTensorCores }, async () => {
    const gpu = ops.gpu;
    const read = async (b: GPUBuffer, n: number) => new Float32Array(await gpu.read(b, n * 4));
    for (const [layout, m, k, n, top] of [['NT', 200, 96, 136, 1e-6], ['NN', 128, 512, 256, 1e4], ['TN', 256, 1024, 128, 1]] as const) {
      // Values of both signs spread over 6 decades below `top` (A) and below 1e-3 (B).
      const spread = (len: number, seed: number, t: number) => Float32Array.from({ length: len }, (_, i) => t * Math.sin(i * 0.37 + seed) * 10 ** (-6 * ((Math.sin(i * 12.9898 + seed) * 43758.5453) % 1 + 1) / 2));
      const [A, B] = [spread(m * k, 1, top), spread(k * n, 2, 1e-3)];
      const [a, b, out] = [gpu.alloc(A.length * 4), gpu.alloc(B.length * 4), gpu.alloc(m * n * 4)];
      gpu.device.queue.writeBuffer(a, 0, A);
      gpu.device.queue.writeBuffer(b, 0, B);
      const errors: Record<string, number> = {};
      for (const inputs of ['f32', 'f16x3', 'f16'] as const) {
        matmul(gpu, out, a, b, m, k, n, layout, inputs);
        const got = await read(out, m * n);
        let e = 0;
        for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
          let want = 0, size = 0;
          for (let q = 0; q < k; q++) {
            const p = (layout === 'TN' ? A[q * m + i]! : A[i * k + q]!) * (layout === 'NT' ? B[j * k + q]! : B[q * n + j]!);
            want += p;
            size += Math.abs(p);
          }
          e = Math.max(e, Math.abs(got[i * n + j]! - want) / size);
        }
        errors[inputs] = e;
      }
      // hi + lo carries 22 of f32's 24 bits and lo lo is left out: each product within 2^-21 (5e-7) of its value, then
      // summed in f32, whose worst case over k <= 1024 terms is k 2^-24 (6e-5) of sum |a b|; 1e-5 lies between (the
      // f32 kernel, in the message, is near 1e-7). f16 inputs alone are off by 2^-11 a product, and lose small values.
      assert.ok(errors['f16x3']! < 1e-5 && errors['f16']! > 1e-4, `${layout} ${m}x${k}x${n}: worst |error| / sum |a b|: ${JSON.stringify(errors)}`);
      [a, b, out].forEach((x) => gpu.free(x));
    }
  });

  test('a tensor larger than the device can bind is a GpuMemoryError naming the size', () => {
    const elements = Math.floor(ops.gpu.maxBinding / 4) + 1;
    assert.throws(() => ops.zeros([elements]), (e: Error) => e instanceof GpuMemoryError && e.message.includes(`${elements * 4} bytes`));
  });

  test('weights larger than one binding are split by rows: embedding, linear (prefill and decode, tied output) and read give the unsplit values', async () => {
    // A 40 KB binding limit splits stories260K's embedding (512 x 64 f32, 128 KB: 4 parts, the last of 32 rows; it
    // is also the output layer), its w1 and w3 (172 x 64: 160 rows, then 12) and w2 (64 x 172: 59 rows, then 5);
    // the rest stays whole.
    const split = await WebGpuBackend.create('fp32', { maxBinding: 40 << 10 });
    const path = assetPath('stories260K', 'stories260K.bin');
    const [whole, parted] = [await loadModel(path, { backend: ops }), await loadModel(path, { backend: split })];
    try {
      const parts = (t: Tensor) => (t.storage as { parts?: unknown[] }).parts?.length ?? 1;
      assert.deepEqual([parts(parted.weights.tokEmbeddings), parts(parted.weights.layers[0]!.w1), parts(parted.weights.layers[0]!.w2), parts(parted.weights.layers[0]!.wq)], [4, 2, 2, 1]);
      assert.deepEqual(await split.read(parted.weights.tokEmbeddings), await ops.read(whole.weights.tokEmbeddings));
      const logits = async (m: LlamaModel) => {
        const cache = new KvCache(m.ops, m.config, 1, 16);
        const steps = [await m.ops.read(forward(m, m.ops.fromHost(Int32Array.of(1, 403, 407, 261, 378, 1), [1, 6]), { cache }))];
        for (const id of [411, 290]) steps.push(await m.ops.read(forward(m, m.ops.fromHost(Int32Array.of(id), [1, 1]), { cache })));
        cache.dispose();
        return steps;
      };
      const [got, want] = [await logits(parted), await logits(whole)];
      // Each output element is the same dot product either way; only the prefill mat-mul's split of k into chunks
      // (it depends on how many output tiles there are) can order a sum differently: f32 rounding.
      got.forEach((g, step) => assert.ok(worst(g, want[step]!) <= 1e-5, `step ${step}: max relative difference ${worst(g, want[step]!)}`));
      // Training's fused output layer does not take a split weight, and says so.
      const [x, targets] = [split.fromHost(new Float32Array(2 * 64), [2, 64]), split.fromHost(Int32Array.of(3, 4), [2])];
      assert.throws(() => split.crossEntropy(x, parted.weights.tokEmbeddings, targets), (e: Error) => e instanceof ArgumentError && e.message.includes('weight in 4 parts'));
    } finally {
      split.dispose();
    }
  });

  for (const precision of ['fp32', 'mixed'] as const) {
    test(`prefill (${precision}) over 16-bit weights whose f32 copy would not fit one binding: read as stored`, async () => {
      // A 40 KB binding: 300 x 64 16-bit weights (38.4 KB) fit whole but their f32 copy (76.8 KB) does not; 400 x 64
      // (51.2 KB) are split in parts of 320 and 80 rows, whose copies do not fit either. Both products read them as
      // they are. Mixed precision rounds x and the weights to f16 (f16 weights are f16 already; these bf16 values
      // have 8 significant bits, exact in f16), so the reference takes x rounded.
      const split = await WebGpuBackend.create(precision, { maxBinding: 40 << 10 });
      const reference = new CpuBackend();
      try {
        for (const [dtype, encode] of [['f16', f32ToF16], ['bf16', f32ToBf16]] as const) {
          for (const n of [300, 400]) {
            const halves = Uint16Array.from({ length: n * 64 }, (_, i) => encode(Math.sin(i * 0.37)));
            const weight = { shape: [n, 64], dtype, bytes: new Uint8Array(halves.buffer) };
            const x = Float32Array.from({ length: 12 * 64 }, (_, i) => 1.5 + Math.cos(i * 0.11)); // no f16 subnormals to flush
            const got = await split.read(split.linear(split.fromHost(x, [12, 64]), split.fromEncoded(weight)));
            const xr = precision === 'mixed' ? x.map((v) => f16ToF32(f32ToF16(v))) : x;
            const want = await reference.read(reference.linear(reference.fromHost(xr, [12, 64]), reference.fromEncoded(weight)));
            // 64-term f32 sums of products up to 2.5, against the reference's f64 ones: up to ~1e-5 of the largest
            // partial sum, which can be many times the result. A wrong chunk or decoding is off by O(1).
            assert.ok(worst(got, want) < 1e-4, `${dtype}, ${n} rows: max relative difference ${worst(got, want)}`);
          }
        }
      } finally {
        split.dispose();
      }
    });
  }

  test('decode steps replayed from captured commands give the op-by-op logits bit for bit, also after a multi-token step and beside another decode', async () => {
    const model = await loadModel(assetPath('stories260K', 'stories260K.bin'), { backend: ops });
    const looped = new Decoder(model, 64), byOps = new Decoder(model, 64, { stepLoop: false });
    let a = await looped.next([1, 403, 9]), b = await byOps.next([1, 403, 9]);
    for (let i = 0; i < 12; i++) {
      // Token 5 jumps three positions (a multi-token step between replays): parameters follow the position.
      const ids = i === 5 ? [argmax(b), 7, 11] : [argmax(b)];
      [a, b] = [await looped.next(ids), await byOps.next(ids)];
      assert.deepEqual(a, b, `step ${i}`);
      if (i >= 3) assert.ok(looped.replaying, `step ${i} replayed`);
    }
    assert.ok(!byOps.replaying);
    // ... and those logits are the reference backend's (every decode fusion, 5 dispatches a layer; f32 sums of 64
    // to 512 terms in other orders: 9e-6 seen on logits of magnitude ~10).
    const reference = await loadModel(assetPath('stories260K', 'stories260K.bin'), { backend: 'reference' });
    const want = await new Decoder(reference, 64).next([1, 403, 9]);
    const again = new Decoder(model, 64, { stepLoop: false });
    let dispatches = 0;
    const dispatch = ops.gpu.dispatch.bind(ops.gpu);
    ops.gpu.dispatch = (...args) => void (dispatches++, dispatch(...args));
    try {
      const got = await again.next([1, 403, 9]);
      assert.ok(worst(got, want) < 1e-5, `logits: max relative difference ${worst(got, want)}`);
    } finally {
      ops.gpu.dispatch = dispatch;
    }
    assert.equal(dispatches, 5 * model.config.nLayers + 3); // and the embedding, the last position's copy, the output layer
    looped.dispose();
    byOps.dispose();
    again.dispose();
  });

  test('argmax picks the first largest of each row, as the host argmax does (ties, -inf, NaN, rows past 256 wide)', async () => {
    const n = 700;
    const rows = [
      Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 3), // one largest, somewhere
      Float32Array.from({ length: n }, (_, i) => (i % 300 === 17 ? 5 : 1)), // ties at 17, 317, 617: the first
      Float32Array.from({ length: n }, (_, i) => (i === 0 ? NaN : i === 650 ? -1 : i % 2 ? NaN : -Infinity)), // NaN never wins
      Float32Array.from({ length: n }, () => -Infinity), // all -inf: the first
    ];
    const x = new Float32Array(rows.length * n);
    rows.forEach((r, i) => x.set(r, i * n));
    const got = await ops.read(ops.argmax(ops.fromHost(x, [2, 2, n])));
    assert.deepEqual([...got], [argmax(rows[0]!), 17, 650, 0]);
    assert.equal(argmax(rows[0]!), rows[0]!.indexOf(Math.max(...rows[0]!)));
    // Its ids have no host copy, so they are not ids for later ops: a clear error, not a crash.
    const ids = ops.argmax(ops.fromHost(x.subarray(0, n), [1, n]));
    assert.throws(() => ops.embedding(ops.fromHost(new Float32Array(n * 2), [n, 2]), ids), (e: Error) => e instanceof ArgumentError && /computed on the GPU/.test(e.message));
  });

  test('greedy decode takes its argmax on the GPU, replayed, and picks the ids of the logits read back', async () => {
    const model = await loadModel(assetPath('stories260K', 'stories260K.bin'), { backend: ops });
    const greedy = new Decoder(model, 64), byLogits = new Decoder(model, 64);
    let [a, b] = [await greedy.nextGreedy([1, 403, 9]), argmax(await byLogits.next([1, 403, 9]))];
    for (let i = 0; i < 12; i++) {
      assert.equal(a, b, `step ${i}`);
      [a, b] = [await greedy.nextGreedy([a]), argmax(await byLogits.next([b]))];
    }
    assert.ok(greedy.replaying);
    greedy.dispose();
    byLogits.dispose();
  });

  test('step loops whose captured steps disagree run every step by its ops', async () => {
    const x = ops.fromHost(Float32Array.of(1, 2, 3, 4), [1, 1, 1, 4]);
    const invFreq = ops.fromHost(Float32Array.of(0.5, 0.01), [2]);
    const steps = {
      // different kernels at odd and even positions
      'alternating kernels': (p: number) => (p % 2 ? ops.scale(x, p) : ops.add(ops.scale(x, p - 1), x)),
      // an f32 parameter: its bits move by equal amounts from 2 to 3 to 4 (the captured steps), not from 4 to 5
      'an f32 parameter that changes': (p: number) => ops.scale(x, p),
      // an integer parameter (the position of rope) not affine in the step: 1, 4, 9, 16, ...
      'an integer parameter not affine in the position': (p: number) => ops.rope(x, invFreq, p * p),
    };
    for (const [what, step] of Object.entries(steps)) {
      let position = 2;
      const loop = ops.stepLoop([1, 1], { step: () => step(position++), position: () => position, replayed: () => assert.fail(`${what}: replayed`) });
      const got: (Float32Array | Int32Array)[] = [];
      for (let p = 2; p <= 8; p++) got.push(await loop.run(Int32Array.of(0)));
      assert.ok(!loop.replaying, what);
      loop.dispose();
      for (let p = 2; p <= 8; p++) {
        const want = step(p);
        assert.deepEqual(got[p - 2], await ops.read(want), `${what}, step ${p}`);
        ops.release(want);
      }
    }
    ops.release(x);
    ops.release(invFreq);
  });

  test('LLAMATS_WEBGPU_PROFILE=1 prints the GPU time of each kernel, labelled by the functions that dispatched it', () => {
    const args = ['generate', '--model', fixturePath('stories260K', 'stories260K.gguf'), '--prompt', 'Once', '--max-tokens', '4', '--temperature', '0', '--backend', 'webgpu'];
    const r = llamatsWithEnv({ LLAMATS_WEBGPU_PROFILE: '1' }, ...args);
    assert.equal(r.status, 0, r.stderr);
    const table = r.stderr.slice(r.stderr.indexOf('GPU time by kernel'));
    assert.match(table, /^GPU time by kernel \([\d.]+ ms in all\):\n/);
    assert.match(table, /\n +[\d.]+ ms +[\d.]+% +\d+ {2}matvecs < linears\n/); // the Q/K/V and gate/up mat-vecs
    assert.doesNotMatch(llamats(...args).stderr, /GPU time by kernel/);
  });

  test('load, generate and dispose 40 times: resident memory settles (no per-cycle leak)', async () => {
    const tokenizer = loadTokenizer(assetPath('stories260K', 'tok512.bin'));
    const cycle = async () => {
      const m = await loadModel(assetPath('stories260K', 'stories260K.bin'), { backend: 'webgpu' });
      for await (const _ of generate(m, tokenizer, 'Once', { maxTokens: 4, temperature: 0 })) void _;
      m.ops.dispose();
    };
    for (let i = 0; i < 10; i++) await cycle();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 30; i++) await cycle();
    const grown = (process.memoryUsage().rss - before) / 2 ** 20;
    assert.ok(grown < 40, `resident memory grew ${grown.toFixed(1)} MB over 30 cycles`);
  });
});

describe('mixed precision on webgpu', { skip: unavailable.webgpu }, async () => {
  const ops = await WebGpuBackend.create('mixed');
  const fp32 = await WebGpuBackend.create();
  const reference = new CpuBackend();
  after(() => [ops, fp32].forEach((o) => o.dispose()));
  const data = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed) * 2);
  const toF16 = (a: Float32Array) => a.map((v) => f16ToF32(f32ToF16(v)));

  // Sizes: 2 x 2 tiles of 128 with ragged edges and vec4 loads (the tensor-core kernel where the GPU has one, loads
  // checked), whole tiles and steps (both kernels' loads unchecked, in all three products), a weight gradient whose k (1100
  // rows) is split in 4 chunks, and small odd ones (scalar loads, the rounding f32 kernel everywhere).
  for (const [rows, inF, outF] of [[130, 36, 132], [256, 128, 128], [1100, 20, 24], [13, 7, 9]] as const) {
    test(`linear and its backward (${rows} x ${inF} -> ${outF}) multiply f16-rounded inputs with f32 sums`, async () => {
      const [x, w, dy] = [data(rows * inF, 1), data(outF * inF, 2), data(rows * outF, 3)];
      const run = async (o: Ops, round: boolean) => {
        const r = round ? toF16 : (a: Float32Array) => a;
        const [xt, wt, dyt] = [o.fromHost(r(x), [rows, inF]), o.fromHost(r(w), [outF, inF]), o.fromHost(r(dy), [rows, outF])];
        const { dx, dw } = o.linearBackward(dyt, xt, wt);
        return Promise.all([o.read(o.linear(xt, wt)), o.read(dx), o.read(dw)]);
      };
      const want = await run(reference, true);
      const got = await run(ops, false);
      // Products of f16 values are exact in f32; only the f32 sums (of at most 1100 terms) differ in order.
      got.forEach((g, i) => assert.ok(worst(g, want[i]!) < 1e-5, `output ${i}: ${worst(g, want[i]!)}`));
      // ... and the rounding is real: the fp32 backend's products differ by f16's precision, and are the reference's
      // on the unrounded inputs.
      const [exact, wantExact] = [await run(fp32, false), await run(reference, false)];
      exact.forEach((e, i) => assert.ok(worst(e, want[i]!) > 1e-4, `output ${i} of fp32 is within ${worst(e, want[i]!)} of the rounded one`));
      exact.forEach((e, i) => assert.ok(worst(e, wantExact[i]!) < 1e-5, `output ${i} of fp32: ${worst(e, wantExact[i]!)}`));
    });
  }

  // The flash kernels need tensor cores and subgroups (attention-flash.ts); lavapipe has neither.
  const noFlash = !(ops.gpu.tensorCores && ops.gpu.subgroups) && 'the adapter has no tensor cores (subgroup matrices) or no subgroups, which the flash kernels need';
  for (const headDim of [64, 32]) {
    test(`attention and its backward on tensor cores (flash kernels, Dh ${headDim}, GQA, ragged blocks, a cache offset) match the reference on f16 inputs`, { skip: noFlash }, async () => {
      const [batch, time, heads, kvHeads, startPos] = [2, 130, 4, 2, 3];
      const [q, kv, dy] = [data(batch * time * heads * headDim, 6), data(batch * (startPos + time) * kvHeads * headDim, 7), data(batch * time * heads * headDim, 8)];
      const run = async (o: Ops, round: boolean) => {
        const r = round ? toF16 : (a: Float32Array) => a;
        const qt = o.fromHost(r(q), [batch, time, heads, headDim]);
        const cache = o.fromHost(r(kv), [batch, startPos + time, kvHeads, headDim]);
        const own = o.fromHost(r(kv.subarray(0, batch * time * kvHeads * headDim)), [batch, time, kvHeads, headDim]);
        const dyt = o.fromHost(r(dy), [batch, time, heads, headDim]);
        const { dq, dk, dv } = o.attentionBackward(dyt, qt, own, own, undefined, o.attention(qt, own, own, 0));
        const without = o.attentionBackward(dyt, qt, own, own); // y computed again
        const grads = await Promise.all([dq, dk, dv, without.dq, without.dk, without.dv].map((g) => o.read(g)));
        assert.deepEqual(grads.slice(3), grads.slice(0, 3), 'the gradients without y given');
        return [await o.read(o.attention(qt, cache, cache, startPos)), ...grads.slice(0, 3)];
      };
      const want = await run(reference, true);
      const got = await run(ops, false);
      // P and dS are rounded to f16 (11 significant bits: 4.9e-4 relative) before their products, and summed in f32;
      // dS = P (dP - D) after a cancellation, so dq and dk lose most: the score-matrix path, which rounds the same
      // operands, is 2e-4 (out), 1.8e-3 (dq), 2.0e-3 (dk) and 4e-4 (dv) off on these inputs.
      got.forEach((g, i) => assert.ok(worst(g, want[i]!) < 5e-3, `${['out', 'dq', 'dk', 'dv'][i]}: ${worst(g, want[i]!)}`));
      // ... and the flash kernels ran: the score-matrix path rounds elsewhere (the scaled scores, the probabilities
      // in f32), so its values differ.
      flashAttentionSwitch.on = false;
      const dense = await run(ops, false).finally(() => (flashAttentionSwitch.on = true));
      dense.forEach((d, i) => assert.notDeepEqual(d, got[i], `${['out', 'dq', 'dk', 'dv'][i]} is the score-matrix path's`));
    });
  }

  test('the fused output layer and cross-entropy rounds x and the output matrix to f16', async () => {
    const [rows, dim, vocab] = [37, 24, 150];
    const [x, w] = [data(rows * dim, 4), data(vocab * dim, 5)];
    const targets = Int32Array.from({ length: rows }, (_, i) => (i * 7) % vocab);
    const run = async (o: Ops, round: boolean) => {
      const r = round ? toF16 : (a: Float32Array) => a;
      return o.read(o.crossEntropy(o.fromHost(r(x), [rows, dim]), o.fromHost(r(w), [vocab, dim]), o.fromHost(targets, [rows])).loss);
    };
    const [got, want] = [await run(ops, false), await run(reference, true)];
    assert.ok(worst(got, want) < 1e-5, `loss ${got[0]} vs ${want[0]}`);
  });

  test('the cpu backends refuse mixed and f16x3 precision with an ArgumentError', async () => {
    for (const precision of ['mixed', 'f16x3'] as const) {
      await assert.rejects(getBackend('cpu', { precision }), (e: Error) => e instanceof ArgumentError && e.message.includes(`"${precision}" is for webgpu`));
    }
  });
});

describe('training on webgpu', { skip: unavailable.webgpu }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'llamats-webgpu-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  const text = join(tmp, 'corpus.txt');
  writeFileSync(text, readFileSync(assetPath('corpus', 'tinyshakespeare.txt')).subarray(0, 20_000));
  /** The metrics of six training steps of the train-test model. */
  const run = (backend: string, precision: string, dropout = '0') => {
    const out = join(tmp, `${backend}-${precision}-${dropout}`);
    const r = llamats('train', '--text', text, '--config', 'train-test', '--batch', '2', '--seq-len', '32', '--steps', '6', '--warmup', '2',
      '--eval-every', '6', '--eval-windows', '4', '--samples', '0', '--threads', '1', '--backend', backend, '--precision', precision, '--dropout', dropout, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss?: number; gradNorm: number; lossScale?: number })
      .flatMap((m) => (m.loss === undefined ? [] : [{ ...m, loss: m.loss }]));
  };

  test('six steps with dropout (embeddings, attention probabilities, residual branches) give the CPU backend\'s losses within f32 rounding', () => {
    const [gpu, cpu] = [run('webgpu', 'fp32', '0.1'), run('cpu', 'fp32', '0.1')];
    assert.equal(gpu.length, 6);
    // Both sum in f32 in different orders; six AdamW steps compound that to ~1e-6 relative, far inside 1e-4.
    gpu.forEach((g, i) => assert.ok(Math.abs(g.loss - cpu[i]!.loss) <= 1e-4 * cpu[i]!.loss, `step ${i + 1}: ${g.loss} vs ${cpu[i]!.loss}`));
  });

  test('f16x3: six steps without loss scaling stay within f32 rounding of the fp32 losses', () => {
    const [split, fp32] = [run('webgpu', 'f16x3'), run('webgpu', 'fp32')];
    split.forEach((m, i) => {
      assert.equal(m.lossScale, undefined);
      // Products to 22 bits (2^-21 a product, 3x the f32 kernel's rms error): as the fp32 test's bound, far inside it.
      // Without tensor cores (lavapipe) f16x3 multiplies as fp32, and this checks only that the flag runs.
      assert.ok(Math.abs(m.loss - fp32[i]!.loss) <= 1e-4 * fp32[i]!.loss, `step ${i + 1}: ${m.loss} vs ${fp32[i]!.loss}`);
    });
  });

  test('mixed precision: six steps at loss scale 2^16 stay within f16 rounding of the fp32 losses', () => {
    const [mixed, fp32] = [run('webgpu', 'mixed'), run('webgpu', 'fp32')];
    mixed.forEach((m, i) => {
      assert.equal(m.lossScale, 2 ** 16);
      assert.ok(Number.isFinite(m.gradNorm), `step ${i + 1} was skipped`);
      // Inputs of every product rounded to 11 significant bits (5e-4 relative) move these losses by ~1e-4.
      assert.ok(Math.abs(m.loss - fp32[i]!.loss) <= 2e-3 * fp32[i]!.loss, `step ${i + 1}: ${m.loss} vs ${fp32[i]!.loss}`);
    });
  });
});
