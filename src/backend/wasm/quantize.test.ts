import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { ArgumentError } from '../../core/errors.js';
import { blockFormats, type KQuantType } from '../../core/quant/index.js';
import { Rng } from '../../core/rng.js';
import { quantizeOnWasm } from './quantize.js';
import { WasmBackend } from './wasm-backend.js';

// The WASM Q4_K and Q6_K quantizers must give the reference quantizers' bytes exactly (those are ggml's), on any
// values: every branch of the scale searches and the f16 and integer rounding is taken by some block below.
const backend = await WasmBackend.create({ threads: 2 });
after(() => backend.dispose());
const types: KQuantType[] = ['q4_k', 'q6_k'];

/** Blocks of 256 values, each of one kind; `rng` draws them. */
function awkwardBlocks(rng: Rng): Float32Array[] {
  const block = (value: (i: number) => number) => Float32Array.from({ length: 256 }, (_, i) => value(i));
  const bits = new Uint32Array(1);
  const asFloat = new Float32Array(bits.buffer);
  const finiteBits = () => {
    do bits[0] = rng.nextU32();
    while (!Number.isFinite(asFloat[0]!));
    return asFloat[0]!;
  };
  return [
    block(() => rng.nextNormal()),
    block(() => 0.02 * rng.nextNormal()), // weights at init scale
    block(() => rng.nextFloat()), // non-negative: the Q4_K min is 0
    block(() => 2 * rng.nextFloat() - 1),
    block(() => 0),
    block(() => -0),
    block(() => 0.75), // all equal: max = min in each search
    block(() => -3.5),
    block(() => 2111 / 2048), // Q6_K's d lands halfway between two f16s (rounded to even)
    block(() => 1e-20 * rng.nextNormal()), // below Q6_K's 1e-15 threshold
    block(() => 1e-40 * rng.nextNormal()), // f32 subnormals
    block(() => 1e-6 * rng.nextNormal()), // d and dmin f16 subnormals
    block(() => 1e5 * rng.nextNormal()), // d past f16's range
    block(() => 1e30 * rng.nextNormal()), // x² past f32's range
    block(() => 3e38 * (2 * rng.nextFloat() - 1)),
    block(() => -Math.abs(rng.nextNormal())), // negative only
    block((i) => (i % 37 === 0 ? 50 * rng.nextNormal() : 0.01 * rng.nextNormal())), // outliers
    block((i) => (i % 11 === 0 ? rng.nextNormal() : 0)), // sparse
    block((i) => 10 ** ((i >> 4) % 9 - 4) * rng.nextNormal()), // sub-blocks of very different scales
    block(() => Math.round(8 * rng.nextNormal()) / 2), // halves: rounding ties
    block(() => Math.round(20 * rng.nextFloat()) - 7), // small integers
    block(finiteBits), // any finite f32: mixed magnitudes, infinite sums, NaN fits
    block((i) => (i < 128 ? finiteBits() : rng.nextNormal())),
  ];
}

/** The reference quantizer's bytes for x. */
function reference(type: KQuantType, x: Float32Array): Uint8Array {
  const { blockElems, blockBytes, quantizeRow } = blockFormats[type];
  const out = new Uint8Array((x.length / blockElems) * blockBytes);
  quantizeRow(x, out);
  return out;
}

/** Asserts byte equality, naming the first differing byte and its block. */
function assertSameBytes(got: Uint8Array, want: Uint8Array, type: KQuantType, what: string): void {
  assert.equal(got.length, want.length);
  const i = got.findIndex((b, k) => b !== want[k]);
  assert.equal(i, -1, `${what}: byte ${i} (block ${Math.floor(i / blockFormats[type].blockBytes)}) is ${got[i]}, the reference's ${want[i]}`);
}

for (const type of types) {
  test(`${type}: the WASM quantizer gives the reference's bytes on awkward blocks, whole tensors of them, on 2 threads`, () => {
    const rng = new Rng(11);
    for (let round = 0; round < 8; round++) {
      const blocks = awkwardBlocks(rng);
      blocks.forEach((x, k) => assertSameBytes(quantizeOnWasm(backend, type, x), reference(type, x), type, `round ${round}, kind ${k}`));
      // All of them as one tensor, shuffled: blocks are split among the threads.
      const order = blocks.map((_, k) => k).sort(() => rng.nextFloat() - 0.5);
      const tensor = new Float32Array(256 * blocks.length);
      order.forEach((k, at) => tensor.set(blocks[k]!, 256 * at));
      assertSameBytes(quantizeOnWasm(backend, type, tensor), reference(type, tensor), type, `round ${round}, tensor of [${order}]`);
    }
  });

  test(`${type}: the WASM quantizer gives ggml's own bytes for the fixture rows`, () => {
    const fixtures = new URL('../../../test/fixtures/ggml-quants/', import.meta.url);
    const input = readFileSync(new URL('input.f32', fixtures));
    const x = new Float32Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength)); // little-endian host
    assertSameBytes(quantizeOnWasm(backend, type, x), new Uint8Array(readFileSync(new URL(`${type}.quant`, fixtures))), type, 'ggml fixture rows');
  });
}

test('a tensor larger than one pass through the heap (4096 blocks) comes out whole and in order', () => {
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 256 * 4099 }, () => 0.02 * rng.nextNormal());
  assertSameBytes(quantizeOnWasm(backend, 'q6_k', x), reference('q6_k', x), 'q6_k', '4099 blocks');
});

test('a tensor that is not a whole number of blocks is an ArgumentError', () => {
  assert.throws(() => quantizeOnWasm(backend, 'q4_k', new Float32Array(300)), ArgumentError);
});
