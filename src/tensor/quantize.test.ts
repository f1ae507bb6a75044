import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { QuantDType } from '../core/dtype.js';
import { Rng } from '../core/rng.js';
import { blockLayout, dequantizeRow } from './dequantize.js';
import { quantizeRow } from './quantize.js';

function roundTrip(type: QuantDType, x: Float32Array): Float32Array {
  const bytes = quantizeRow(type, x);
  assert.equal(bytes.length, (x.length / blockLayout[type].elems) * blockLayout[type].bytes);
  const y = new Float32Array(x.length);
  dequantizeRow(type, bytes, y);
  return y;
}

test('Q8_0 and Q4_0 blocks decode to the values ggml defines', () => {
  // Q8_0: f16 d = 0.5 (0x3800), q = -3, 0, 127, ... -> y = q d
  const q8 = new Uint8Array(34);
  q8.set([0x00, 0x38, 0xfd, 0x00, 0x7f]);
  const y8 = new Float32Array(32);
  dequantizeRow('q8_0', q8, y8);
  assert.deepEqual(Array.from(y8.subarray(0, 4)), [-1.5, 0, 63.5, 0]);
  // Q4_0: d = 2 (0x4000); byte 0x1f: low nibble 15 -> element 0 = (15 - 8) * 2, high nibble 1 -> element 16 = -14
  const q4 = new Uint8Array(18);
  q4.set([0x00, 0x40, 0x1f]);
  const y4 = new Float32Array(32);
  dequantizeRow('q4_0', q4, y4);
  assert.deepEqual([y4[0], y4[1], y4[16], y4[17]], [14, -16, -14, -16]);
});

test('quantize then dequantize stays within each type\'s rounding error', () => {
  const rng = new Rng(5);
  // Relative RMS error bounds: 8-bit ~0.4%, 6-bit ~2%, 4-bit ~8% for Gaussian rows (measured well below these).
  const bounds: Record<QuantDType, number> = { q8_0: 0.01, q6_k: 0.04, q4_0: 0.12, q4_k: 0.12 };
  for (const type of Object.keys(bounds) as QuantDType[]) {
    const x = Float32Array.from({ length: 1024 }, (_, i) => rng.nextNormal() * (i % 256 === 3 ? 8 : 1)); // with outliers
    const y = roundTrip(type, x);
    let err = 0;
    let norm = 0;
    x.forEach((v, i) => ((err += (v - y[i]!) ** 2), (norm += v * v)));
    assert.ok(Math.sqrt(err / norm) < bounds[type], `${type}: relative RMS error ${Math.sqrt(err / norm)}`);
  }
});

test('Q8_0 error per element is at most half a step (plus the f16 rounding of the scale)', () => {
  const rng = new Rng(9);
  const x = Float32Array.from({ length: 256 }, () => rng.nextNormal());
  const y = roundTrip('q8_0', x);
  for (let b = 0; b < 8; b++) {
    const block = x.subarray(32 * b, 32 * b + 32);
    const d = Math.max(...block.map(Math.abs)) / 127;
    block.forEach((v, j) => assert.ok(Math.abs(v - y[32 * b + j]!) <= d / 2 + Math.abs(v) * 2 ** -10, `block ${b} element ${j}`));
  }
});

test('zeros and constant rows survive every type', () => {
  for (const type of ['q8_0', 'q4_0', 'q4_k', 'q6_k'] as QuantDType[]) {
    assert.ok(roundTrip(type, new Float32Array(256)).every((v) => v === 0), type); // Q4_0 gives -0 (d = 0 / -8), as ggml
    const ones = roundTrip(type, new Float32Array(256).fill(-0.75));
    ones.forEach((v) => assert.ok(Math.abs(v + 0.75) < 0.75 * 0.07, `${type}: ${v}`));
  }
});
