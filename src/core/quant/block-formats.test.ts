import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ArgumentError } from '../errors.js';
import { blockFormatForGgmlType, blockFormats, dequantizeRow, quantizeRow, type BlockFormat, type QuantType } from './index.js';

// ggml's own output (test/fixtures/ggml-quants/README.md says how it was made).
const fixtures = new URL('../../../test/fixtures/ggml-quants/', import.meta.url);
const read = (name: string) => new Uint8Array(readFileSync(new URL(name, fixtures)));
const rows = JSON.parse(readFileSync(new URL('rows.json', fixtures), 'utf8')) as { name: string; length: number }[];
const types = Object.keys(blockFormats) as QuantType[];

/** Little-endian f32 bytes as their u32 bit patterns. */
function bitsLe(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(4 * i, true));
}

/** Little-endian f32 bytes as floats. */
function floatsLe(bytes: Uint8Array): Float32Array {
  return new Float32Array(bitsLe(bytes).buffer);
}

/** Where two byte (or bit-pattern) arrays first differ, for the failure message; -1 when equal. */
function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return -1;
}

/** The fixture rows: each row's input, ggml's quantized bytes and ggml's dequantization of them. */
function* fixtureRows(format: BlockFormat): Generator<{ name: string; x: Float32Array; bytes: Uint8Array; y: Uint32Array }> {
  const input = floatsLe(read('input.f32'));
  const quant = read(`${format.type}.quant`);
  const dequant = bitsLe(read(`${format.type}.dequant.f32`));
  let at = 0;
  let byteAt = 0;
  for (const { name, length } of rows) {
    const size = (length / format.blockElems) * format.blockBytes;
    yield { name, x: input.subarray(at, at + length), bytes: quant.subarray(byteAt, byteAt + size), y: dequant.subarray(at, at + length) };
    at += length;
    byteAt += size;
  }
  assert.equal(at, input.length);
  assert.equal(byteAt, quant.length);
}

for (const type of types) {
  const format = blockFormats[type];
  const ggml = format.name.replace('Q', 'q'); // ggml's function names: quantize_row_q4_K_ref

  test(`${format.name}: quantizeRow gives ggml's quantize_row_${ggml}_ref bytes for every fixture row`, () => {
    for (const { name, x, bytes } of fixtureRows(format)) {
      const ours = new Uint8Array(bytes.length);
      quantizeRow(type, x, ours);
      const i = firstDifference(ours, bytes);
      assert.equal(i, -1, `row "${name}": byte ${i} (block ${Math.floor(i / format.blockBytes)}) is ${ours[i]}, ggml ${bytes[i]}`);
    }
  });

  test(`${format.name}: dequantizeRow gives ggml's dequantize_row_${ggml} floats bit for bit`, () => {
    const cases = [...fixtureRows(format)];
    cases.push({ name: 'random blocks', x: new Float32Array(0), bytes: read(`${type}.random.quant`), y: bitsLe(read(`${type}.random.dequant.f32`)) });
    for (const { name, bytes, y } of cases) {
      const ours = new Float32Array(y.length);
      dequantizeRow(type, bytes, ours);
      const bits = new Uint32Array(ours.buffer);
      const i = firstDifference(bits, y);
      assert.equal(i, -1, `row "${name}": element ${i} has bits 0x${bits[i]?.toString(16)}, ggml 0x${y[i]?.toString(16)}`);
    }
  });
}

/**
 * The stress set: 2048 rows of 256 floats built from integers (exact in f32), the same generator as the fixture
 * harness: xorshift32 from 0x2545F491; element = (Σ of four 20-bit draws − 2^21)·2^e with e = r mod 7 − 24, plus
 * (i/32 mod 4)·2 − 3 on rows r ≡ 1 (mod 3) for uneven sub-blocks; absolute values on rows r ≡ 2 (mod 3).
 */
function* stressRows(): Generator<Float32Array> {
  let s = 0x2545f491;
  const next = () => {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    return (s = (s ^ (s << 5)) >>> 0);
  };
  for (let r = 0; r < 2048; r++) {
    yield Float32Array.from({ length: 256 }, (_, i) => {
      let v = -(2 ** 21);
      for (let k = 0; k < 4; k++) v += next() >>> 12;
      const e = (r % 7) - 24 + (r % 3 === 1 ? ((i >> 5) % 4) * 2 - 3 : 0);
      return r % 3 === 2 ? Math.abs(v * 2 ** e) : v * 2 ** e;
    });
  }
}

/** 32-bit FNV-1a of some bytes. */
function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/** Floats as little-endian bytes. */
function leBytes(y: Float32Array): Uint8Array {
  const out = new Uint8Array(4 * y.length);
  const view = new DataView(out.buffer);
  y.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

for (const type of types) {
  const format = blockFormats[type];
  test(`${format.name}: 2048 stress rows match ggml's digests of its quantized bytes and their dequantization`, () => {
    const digests = bitsLe(read(`${type}.stress.fnv`)); // per row: FNV-1a of ggml's bytes, then of its floats
    let r = 0;
    for (const x of stressRows()) {
      const bytes = new Uint8Array((x.length / format.blockElems) * format.blockBytes);
      quantizeRow(type, x, bytes);
      assert.equal(fnv1a(bytes), digests[2 * r], `row ${r}: quantized bytes differ from ggml's`);
      const y = new Float32Array(x.length);
      dequantizeRow(type, bytes, y);
      assert.equal(fnv1a(leBytes(y)), digests[2 * r + 1], `row ${r}: dequantized floats differ from ggml's`);
      r++;
    }
  });
}

test('the type table: sizes, ggml ids, lookup by id', () => {
  const table = types.map((t) => {
    const { name, ggmlType, blockElems, blockBytes } = blockFormats[t];
    return [t, name, ggmlType, blockElems, blockBytes];
  });
  assert.deepEqual(table, [
    ['q8_0', 'Q8_0', 8, 32, 34], ['q4_0', 'Q4_0', 2, 32, 18], ['q4_k', 'Q4_K', 12, 256, 144], ['q6_k', 'Q6_K', 14, 256, 210],
  ]);
  for (const t of types) assert.equal(blockFormatForGgmlType(blockFormats[t].ggmlType), blockFormats[t]);
  for (const id of [0, 1, 3, 13, 16, 30]) assert.equal(blockFormatForGgmlType(id), undefined);
});

test('rows that are not whole blocks, or bytes of the wrong size, are ArgumentErrors', () => {
  assert.throws(() => quantizeRow('q8_0', new Float32Array(48), new Uint8Array(51)), ArgumentError);
  assert.throws(() => quantizeRow('q4_k', new Float32Array(256), new Uint8Array(145)), ArgumentError);
  assert.throws(() => dequantizeRow('q6_k', new Uint8Array(210), new Float32Array(128)), /Q6_K row: expected a multiple of 256 elements, found 128/);
  assert.throws(() => dequantizeRow('q4_0', new Uint8Array(36), new Float32Array(32)), /expected 18 bytes for 32 elements, found 36 bytes/);
});
