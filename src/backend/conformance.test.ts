/**
 * One suite, every backend: each op of the Ops contract runs on every backend against the reference backend on
 * seeded random inputs of awkward sizes (odd widths, one row, sizes that are not multiples of any tile).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Rng } from '../core/rng.js';
import { numel, type Shape } from '../core/shape.js';
import { f16ToF32, f32ToBf16, f32ToF16 } from '../core/dtype.js';
import { blockFormats } from '../core/quant/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Ops } from './ops.js';
import { backendNames, getBackend } from './registry.js';
import { WasmBackend } from './wasm/wasm-backend.js';
import { WebGpuBackend } from './webgpu/webgpu-backend.js';
import { unavailable } from '../testing/backends.js';

const reference = await getBackend('reference');

function random(rng: Rng, shape: Shape, scale = 1): Float32Array {
  return Float32Array.from({ length: numel(shape) }, () => scale * rng.nextNormal());
}

/** Max |a - b| / (1 + |b|) over elements: relative for large values, absolute near 0. */
function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return m;
}

/** Run `op` on both backends with the same host inputs and compare the outputs. */
async function agree(ops: Ops, inputs: { data: Float32Array | Int32Array; shape: Shape }[], op: (o: Ops, ts: Tensor[]) => Tensor, tol: number, what: string): Promise<void> {
  const run = async (o: Ops) => o.read(op(o, inputs.map((i) => o.fromHost(i.data, i.shape))));
  const [got, want] = [await run(ops), await run(reference)];
  const d = maxRelDiff(got, want);
  assert.ok(d <= tol, `${what}: max relative difference ${d} > ${tol}`);
}

/**
 * How far output (r, o) of x (rows, inF) . w (outF, inF) encoded as `dtype` may be from the reference's (which
 * decodes w exactly and sums in f64). f16/bf16 decode exactly; what is left is f32 summation, whose rounding error
 * stays below about sqrt(inF) u sum|w x| (u = 2^-24; the probabilistic bound, seen ~100x under it). Block types
 * multiply x rounded to int8 with one scale per 32 values (per 256 for the k-quants, as ggml's Q8_K): each x moves
 * by a near-uniform error of at most d/2, d = max|x in its span| / 127, so an output's error has standard deviation
 * sqrt(sum w^2 d^2 / 12); 6 of those is the bound.
 */
function encodedBound(dtype: string, w: Float32Array, xs: Float32Array, inF: number, r: number, o: number): number {
  const span = dtype.endsWith('_k') ? 256 : 32;
  let sumAbs = 0, variance = 0;
  for (let i = 0; i < inF; i++) {
    sumAbs += Math.abs(w[o * inF + i]! * xs[r * inF + i]!);
    const start = r * inF + i - (i % span);
    const d = maxAbs(xs.subarray(start, start + span)) / 127;
    variance += (w[o * inF + i]! * d) ** 2 / 12;
  }
  return dtype.startsWith('q') ? 6 * Math.sqrt(variance) : Math.sqrt(inF) * 2 ** -24 * sumAbs;
}

function encodeFloats(x: Float32Array, dtype: 'f16' | 'bf16'): Uint8Array {
  return new Uint8Array(Uint16Array.from(x, dtype === 'f16' ? f32ToF16 : f32ToBf16).buffer);
}

function quantize(type: 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k', x: Float32Array): Uint8Array {
  const { blockElems, blockBytes, quantizeRow } = blockFormats[type];
  const out = new Uint8Array((x.length / blockElems) * blockBytes);
  quantizeRow(x, out);
  return out;
}

const maxAbs = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

// f32 kernels sum in a different order (SIMD lanes, tiles) and in f32 where the reference sums in f64: for sums of
// up to a few hundred O(1) terms the difference stays below ~1e-5 relative.
const F32_TOL = 2e-5;

/**
 * Every fast backend (with the reason it is skipped, if it is), and the fast CPU backend's plain SIMD128 build too
 * (runtimes without relaxed SIMD get it), and WebGPU with its kernels on workgroup memory alone (devices without
 * subgroups get them).
 */
const candidates: [string, () => Promise<Ops>, string | undefined][] = [
  ...backendNames.filter((n) => n !== 'reference').map((n): [string, () => Promise<Ops>, string | undefined] => [n, () => getBackend(n, { threads: 2 }), unavailable[n]]),
  ['cpu (SIMD128 build)', () => WasmBackend.create({ threads: 2, relaxed: false }), undefined],
  ['webgpu (no subgroups)', () => WebGpuBackend.create('fp32', { subgroups: false }), unavailable.webgpu],
];

for (const [name, create, skip] of candidates) {
  describe(`backend ${name} conformance`, { skip }, async () => {
    const ops = await create();
    after(() => ops.dispose());
    const rng = new Rng(2024);

    test('linear and linears (one row and many, awkward widths)', async () => {
      for (const [rows, inF, outF] of [[1, 1, 1], [1, 17, 5], [3, 33, 13], [7, 100, 9], [1, 257, 31], [5, 64, 64]] as const) {
        const x = { data: random(rng, [rows, inF]), shape: [rows, inF] };
        const w = { data: random(rng, [outF, inF]), shape: [outF, inF] };
        await agree(ops, [x, w], (o, [a, b]) => o.linear(a!, b!), F32_TOL, `linear ${rows}x${inF}->${outF}`);
      }
      const x = { data: random(rng, [2, 40]), shape: [2, 40] };
      const ws = [3, 8, 1].map((n) => ({ data: random(rng, [n, 40]), shape: [n, 40] }));
      for (const i of [0, 1, 2]) {
        await agree(ops, [x, ...ws], (o, [a, ...bs]) => o.linears(a!, bs)[i]!, F32_TOL, `linears output ${i}`);
      }
    });

    test('linear over encoded weights (f16, bf16, Q8_0, Q4_0, Q4_K, Q6_K), one row and many', async () => {
      for (const dtype of ['f16', 'bf16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'] as const) {
        // Widths that leave remainders: f16/bf16 past the 8-wide steps, Q8_0/Q4_0 past a group of 4 blocks.
        const widths = dtype === 'f16' || dtype === 'bf16' ? [512, 37, 521, 516] : dtype === 'q8_0' || dtype === 'q4_0' ? [512, 160] : [512];
        // [1, 133]: enough rows that each thread's chunks of a decode (pool.ts) are walked as several runs of rows.
        for (const [inF, rows, outF] of widths.flatMap((inF) => [[1, 3], [4, 5], [1, 17], [7, 6], [13, 5], [1, 133]].map(([r, o]) => [inF, r!, o!] as const))) {
          const xs = random(rng, [rows, inF]);
          let w = random(rng, [outF, inF]);
          const bytes = dtype === 'f16' || dtype === 'bf16' ? encodeFloats(w, dtype) : quantize(dtype, w);
          if (dtype === 'q8_0') {
            // Our quantizer writes -127..127, but a Q8_0 file may hold -128 (the relaxed kernel's edge): put some in.
            for (let b = 0; b < bytes.length; b += 34) bytes[b + 2 + (b % 32)] = 0x80;
            w = new Float32Array(w.length);
            blockFormats.q8_0.dequantizeRow(bytes, w);
          }
          const run = async (o: Ops) => o.read(o.linear(o.fromHost(xs, [rows, inF]), o.fromEncoded({ shape: [outF, inF], dtype, bytes })));
          const [got, want] = [await run(ops), await run(reference)];
          // encodedBound, plus 1e-4 of slack.
          const bound = (r: number, o: number) => {
            const b = encodedBound(dtype, w, xs, inF, r, o);
            return dtype.startsWith('q') ? b + 1e-4 : Math.max(1e-4, b);
          };
          got.forEach((v, i) => {
            const [r, o] = [Math.floor(i / outF), i % outF];
            assert.ok(Math.abs(v - want[i]!) <= bound(r, o), `${dtype} ${rows}x${inF}->${outF} output ${i}: ${v} vs ${want[i]} (bound ${bound(r, o)})`);
          });
        }
      }
    });

    test('linear over encoded weights small enough that their f16 values and block scales are f16 subnormals', async () => {
      // Weights of about 1e-4 (f16 subnormals start below 6.1e-5): f16 holds many as subnormals, and every block
      // type's f16 scale d (max|w| over 8 to 127, 16..32 values to a block) is one. Both decode exactly; the bound is
      // the encoded test's, relative (no 1e-4 floor, which would hide any error here). One row (decode) and five.
      for (const [dtype, rows] of (['f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'] as const).flatMap((d) => [[d, 1], [d, 5]] as const)) {
        const [inF, outF] = [512, 7];
        const xs = random(rng, [rows, inF]);
        const w = random(rng, [outF, inF]).map((v) => v * 2e-4);
        const bytes = dtype === 'f16' ? encodeFloats(w, dtype) : quantize(dtype, w);
        const run = async (o: Ops) => o.read(o.linear(o.fromHost(xs, [rows, inF]), o.fromEncoded({ shape: [outF, inF], dtype, bytes })));
        const [got, want] = [await run(ops), await run(reference)];
        got.forEach((v, i) => {
          const bound = encodedBound(dtype, w, xs, inF, Math.floor(i / outF), i % outF);
          assert.ok(Math.abs(v - want[i]!) <= bound + 1e-12, `${dtype} ${rows} rows, output ${i}: ${v} vs ${want[i]} (bound ${bound})`);
        });
      }
    });

    test('f16 weights of every magnitude: subnormals beside values of 64 and more, in linear and embedding', async () => {
      // The CPU backend holds f16 tensors whose values are all under 64 times 2^10 (assembly/rebase.ts) and keeps
      // the others' halves as they are: both kinds must read back and multiply as the file's values.
      const [inF, outF] = [40, 9];
      for (const top of [63.97, 64, 60000]) {
        const w = random(rng, [outF, inF]).map((v, i) => (i % 7 === 0 ? v * 2e-6 : v)); // every 7th an f16 subnormal
        w[13] = top;
        const bytes = encodeFloats(w, 'f16');
        const table = (o: Ops) => o.fromEncoded({ shape: [outF, inF], dtype: 'f16', bytes });
        const ids = Int32Array.of(0, 8, 1, 0);
        const embed = async (o: Ops) => o.read(o.embedding(table(o), o.fromHost(ids, [4])));
        assert.deepEqual(await embed(ops), await embed(reference), `embedding, largest value ${top}`);
        for (const rows of [1, 3]) {
          const xs = random(rng, [rows, inF]);
          const run = async (o: Ops) => o.read(o.linear(o.fromHost(xs, [rows, inF]), table(o)));
          const [got, want] = [await run(ops), await run(reference)];
          const decoded = new Float32Array(Uint16Array.from(new Uint16Array(bytes.buffer), f16ToF32));
          got.forEach((v, i) => {
            const bound = encodedBound('f16', decoded, xs, inF, Math.floor(i / outF), i % outF);
            assert.ok(Math.abs(v - want[i]!) <= bound + 1e-12, `largest ${top}, ${rows} rows, output ${i}: ${v} vs ${want[i]} (bound ${bound})`);
          });
        }
      }
    });

    test('rmsnorm, swiglu, add, softmax', async () => {
      for (const [rows, dim] of [[1, 1], [3, 7], [2, 64], [5, 33]] as const) {
        const x = { data: random(rng, [rows, dim], 3), shape: [rows, dim] };
        const y = { data: random(rng, [rows, dim], 3), shape: [rows, dim] };
        const w = { data: random(rng, [dim]), shape: [dim] };
        await agree(ops, [x, w], (o, [a, b]) => o.rmsnorm(a!, b!, 1e-5), F32_TOL, `rmsnorm ${rows}x${dim}`);
        await agree(ops, [x, y], (o, [a, b]) => o.swiglu(a!, b!), F32_TOL, `swiglu ${rows}x${dim}`);
        await agree(ops, [x, y], (o, [a, b]) => o.add(a!, b!), 1e-7, `add ${rows}x${dim}`);
        await agree(ops, [x], (o, [a]) => o.softmax(a!), F32_TOL, `softmax ${rows}x${dim}`);
      }
    });

    test('dropout draws the same mask as the reference (exactly)', async () => {
      for (const [n, p, seed] of [[1, 0.5, 0], [1000, 0.2, 7], [4099, 0.9, 123456789], [64, 0, 3]] as const) {
        const x = { data: random(rng, [n]), shape: [n] };
        await agree(ops, [x], (o, [a]) => o.dropout(a!, p, seed), 0, `dropout n=${n} p=${p}`);
      }
    });

    test('rope at several start positions', async () => {
      for (const [b, t, h, dh, start] of [[1, 1, 1, 2, 0], [2, 3, 3, 8, 5], [1, 7, 2, 16, 300], [1, 1, 4, 64, 2047]] as const) {
        const x = { data: random(rng, [b, t, h, dh]), shape: [b, t, h, dh] };
        const inv = { data: Float32Array.from({ length: dh / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / dh)), shape: [dh / 2] };
        // f32 cos/sin of angles up to ~2000 rad lose ~1e-4 absolute to argument rounding; the reference uses f64.
        await agree(ops, [x, inv], (o, [a, f]) => o.rope(a!, f!, start), 2e-4, `rope ${[b, t, h, dh, start]}`);
      }
    });

    test('attention: prefill, cached decode, GQA and MQA', async () => {
      for (const [b, t, h, hkv, dh, s, start] of [[1, 1, 1, 1, 2, 1, 0], [2, 5, 4, 2, 8, 5, 0], [1, 1, 6, 3, 16, 20, 12], [1, 9, 4, 1, 32, 30, 3], [1, 1, 6, 2, 64, 71, 70], [1, 7, 2, 2, 20, 40, 33], [1, 2, 3, 1, 96, 150, 140], [1, 1, 2, 1, 6, 130, 129], [1, 1, 2, 1, 264, 70, 69]] as const) {
        const q = { data: random(rng, [b, t, h, dh]), shape: [b, t, h, dh] };
        const k = { data: random(rng, [b, s, hkv, dh], 2), shape: [b, s, hkv, dh] };
        const v = { data: random(rng, [b, s, hkv, dh]), shape: [b, s, hkv, dh] };
        await agree(ops, [q, k, v], (o, [a, c, d]) => o.attention(a!, c!, d!, start), F32_TOL, `attention ${[b, t, h, hkv, dh, s, start]}`);
      }
    });

    test('attention with dropout on the probabilities (training and over a cache)', async () => {
      for (const [b, t, h, hkv, dh, s, start] of [[2, 5, 4, 2, 8, 5, 0], [1, 20, 2, 1, 16, 20, 0], [1, 7, 2, 2, 20, 40, 33]] as const) {
        const q = { data: random(rng, [b, t, h, dh]), shape: [b, t, h, dh] };
        const k = { data: random(rng, [b, s, hkv, dh]), shape: [b, s, hkv, dh] };
        const v = { data: random(rng, [b, s, hkv, dh]), shape: [b, s, hkv, dh] };
        await agree(ops, [q, k, v], (o, [a, c, d]) => o.attention(a!, c!, d!, start, { p: 0.25, seed: 3 }), F32_TOL, `attention with dropout ${[b, t, h, hkv, dh, s, start]}`);
      }
    });

    test('embedding, sliceTime, writeAt, reshape and tidy', async () => {
      const table = { data: random(rng, [11, 6]), shape: [11, 6] };
      const ids = { data: Int32Array.of(3, 0, 10, 3), shape: [2, 2] };
      await agree(ops, [table, ids], (o, [a, i]) => o.embedding(a!, i!), 0, 'embedding');
      await agree(ops, [table], (o, [a]) => o.sliceTime(o.reshape(a!, [1, 11, 6]), 4, 3), 0, 'sliceTime');
      const cache = ops.zeros([1, 5, 2]);
      ops.writeAt(cache, ops.fromHost(Float32Array.of(1, 2, 3, 4), [1, 2, 2]), 2);
      assert.deepEqual(Array.from(await ops.read(cache)), [0, 0, 0, 0, 1, 2, 3, 4, 0, 0]);
      const kept = ops.tidy(() => ops.add(ops.add(cache, cache), cache));
      assert.deepEqual(Array.from(await ops.read(kept)), [0, 0, 0, 0, 3, 6, 9, 12, 0, 0]);
    });

    if (ops instanceof WasmBackend) {
      test('pools started back to back each run their first job (a worker must be listening before it says ready)', async () => {
        const backends = await Promise.all(Array.from({ length: 8 }, () => WasmBackend.create({ threads: 2 })));
        for (const b of backends) {
          const y = b.linear(b.fromHost(Float32Array.of(1, 2), [1, 2]), b.fromHost(Float32Array.of(1, 0, 0, 1, 1, 1), [3, 2]));
          assert.deepEqual(Array.from(await b.read(y)), [1, 2, 3]);
          b.dispose();
        }
      });

      test('tidy frees every intermediate: a forward-sized loop does not grow the heap', async () => {
        const x = ops.fromHost(random(rng, [3, 64]), [3, 64]);
        const w = ops.fromHost(random(rng, [64, 64]), [64, 64]);
        const step = () => ops.tidy(() => ops.softmax(ops.add(ops.linear(x, w), ops.linear(x, w))));
        ops.release(step());
        const before = ops.heap.stats;
        for (let i = 0; i < 100; i++) ops.release(step());
        assert.deepEqual(ops.heap.stats, before);
      });
    }

    test('repeated runs are bit-identical (threads claim rows dynamically; results must not depend on which)', async () => {
      const q = ops.fromHost(random(rng, [4, 24, 4, 16]), [4, 24, 4, 16]);
      const kv = ops.fromHost(random(rng, [4, 24, 2, 16]), [4, 24, 2, 16]);
      const x = ops.fromHost(random(rng, [37, 64]), [37, 64]);
      const w = ops.fromHost(random(rng, [101, 64]), [101, 64]);
      const runs = async () => [
        await ops.read(ops.attention(q, kv, kv, 0)), await ops.read(ops.linear(x, w)),
        ...(await Promise.all(Object.values(ops.attentionBackward(q, q, kv, kv)).map((t) => ops.read(t)))),
      ];
      const first = await runs();
      for (let r = 0; r < 20; r++) assert.deepEqual(await runs(), first, `run ${r}`);
    });

    describe('training ops', () => {
      /** Like agree, for ops with several outputs. */
      const agreeAll = async (inputs: { data: Float32Array | Int32Array; shape: Shape }[], op: (o: Ops, ts: Tensor[]) => Tensor[], tol: number, what: string) => {
        const run = async (o: Ops) => Promise.all(op(o, inputs.map((i) => o.fromHost(i.data, i.shape))).map((t) => o.read(t)));
        const [got, want] = [await run(ops), await run(reference)];
        got.forEach((g, i) => {
          const d = maxRelDiff(g, want[i]!);
          assert.ok(d <= tol, `${what} output ${i}: max relative difference ${d} > ${tol}`);
        });
      };
      const input = (shape: Shape, scale = 1) => ({ data: random(rng, shape, scale), shape });

      test('linearBackward (transposes + the forward tile)', async () => {
        for (const [rows, inF, outF] of [[1, 1, 1], [1, 17, 5], [7, 33, 13], [13, 100, 9], [130, 64, 70]] as const) {
          await agreeAll([input([rows, outF]), input([rows, inF]), input([outF, inF])], (o, [dy, x, w]) => {
            const { dx, dw } = o.linearBackward(dy!, x!, w!);
            return [dx, dw];
          }, F32_TOL * 5, `linearBackward ${rows}x${inF}->${outF}`); // sums of up to 130 terms: a little more rounding
        }
      });

      test('rmsnorm, rope, swiglu backward', async () => {
        await agreeAll([input([5, 37]), input([5, 37]), input([37])], (o, [dy, x, w]) => {
          const { dx, dweight } = o.rmsnormBackward(dy!, x!, w!, 1e-5);
          return [dx, dweight];
        }, F32_TOL, 'rmsnormBackward');
        const inv = { data: Float32Array.from({ length: 3 }, (_, i) => 10000 ** (-i / 3)), shape: [3] };
        await agreeAll([input([2, 7, 3, 6]), inv], (o, [dy, f]) => [o.ropeBackward(dy!, f!, 4)], F32_TOL, 'ropeBackward');
        await agreeAll([input([3, 41]), input([3, 41], 3), input([3, 41])], (o, [dy, g, u]) => {
          const { dgate, dup } = o.swigluBackward(dy!, g!, u!);
          return [dgate, dup];
        }, F32_TOL, 'swigluBackward');
      });

      test('attentionBackward (GQA, awkward sizes)', async () => {
        for (const [batch, time, heads, kvHeads, dh] of [[1, 1, 2, 1, 4], [2, 7, 6, 2, 6], [1, 13, 4, 4, 16], [2, 20, 6, 3, 5], [2, 24, 4, 2, 8], [1, 300, 4, 2, 8]] as const) {
          await agreeAll([input([batch, time, heads, dh]), input([batch, time, heads, dh]), input([batch, time, kvHeads, dh]), input([batch, time, kvHeads, dh])],
            (o, [dy, q, k, v]) => {
              const { dq, dk, dv } = o.attentionBackward(dy!, q!, k!, v!);
              return [dq, dk, dv];
            }, F32_TOL * 5, `attentionBackward B${batch} T${time} H${heads}/${kvHeads} Dh${dh}`); // f32 softmax vs f64
        }
      });

      test('attentionBackward with dropout on the probabilities', async () => {
        for (const [batch, time, heads, kvHeads, dh] of [[2, 7, 6, 2, 6], [1, 24, 4, 2, 8]] as const) {
          await agreeAll([input([batch, time, heads, dh]), input([batch, time, heads, dh]), input([batch, time, kvHeads, dh]), input([batch, time, kvHeads, dh])],
            (o, [dy, q, k, v]) => {
              const { dq, dk, dv } = o.attentionBackward(dy!, q!, k!, v!, { p: 0.2, seed: 8 });
              return [dq, dk, dv];
            }, F32_TOL * 5, `attentionBackward with dropout B${batch} T${time} H${heads}/${kvHeads} Dh${dh}`);
        }
      });

      test('embeddingBackward, crossEntropy (chunks, an ignored row), sumSquares, scale', async () => {
        const ids = { data: Int32Array.from([3, 0, 3, 6, 1, 6]), shape: [2, 3] };
        await agreeAll([input([2, 3, 5]), ids], (o, [dy, i]) => [o.embeddingBackward(dy!, i!, 7)], F32_TOL, 'embeddingBackward');
        for (const [rows, dim, vocab] of [[1, 3, 5], [150, 9, 11], [37, 16, 300]] as const) {
          const targets = { data: Int32Array.from({ length: rows }, (_, i) => (i === 2 ? -1 : (i * 7) % vocab)), shape: [rows] };
          await agreeAll([input([rows, dim]), input([vocab, dim]), targets], (o, [x, w, t]) => {
            const { loss, dx, dw } = o.crossEntropy(x!, w!, t!, 0.25);
            return [loss, dx!, dw!, o.crossEntropy(x!, w!, t!).loss];
          }, F32_TOL * 5, `crossEntropy ${rows}x${dim}, V ${vocab}`);
        }
        await agreeAll([input([1000])], (o, [x]) => [o.sumSquares(x!), o.scale(x!, -0.3)], F32_TOL, 'sumSquares, scale');
      });

      test('adamw in place (param, m, v after two steps, the second with its gradient scaled)', async () => {
        const shape = [3, 37];
        const start = [input(shape), input(shape), input(shape)];
        const run = async (o: Ops) => {
          const [p, g1, g2] = start.map((i) => o.fromHost(i.data, i.shape)) as [Tensor, Tensor, Tensor];
          const m = o.zeros(shape);
          const v = o.zeros(shape);
          o.adamw(p, g1, m, v, { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 1 });
          o.adamw(p, g2, m, v, { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 2, gradScale: 0.37 });
          return Promise.all([p, m, v].map((t) => o.read(t)));
        };
        const [got, want] = [await run(ops), await run(reference)];
        got.forEach((g, i) => assert.ok(maxRelDiff(g, want[i]!) <= F32_TOL, `adamw output ${i}`));
      });
    });
  });
}
