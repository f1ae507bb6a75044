import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { blockFormats } from '../../core/quant/index.js';
import { Rng } from '../../core/rng.js';
import type { Ops } from '../ops.js';
import { WasmBackend } from './wasm-backend.js';

// The integer prefill kernels (assembly/matmul-int8.ts) quantize x to the same int8 values and scales as the decode
// kernels do (Q8A's per 32 values; Q8K's per 256 for Q4_K), so a prefill over m rows must give what m one-row decodes
// give, up to f32 summation order. Both builds run them: the relaxed one on relaxed SIMD's pair dot, the SIMD128 one
// on its exact stand-in.
const backends = await Promise.all([
  WasmBackend.create({ threads: 2 }),
  WasmBackend.create({ threads: 2, relaxed: false, int8Prefill: true }),
]);
after(() => backends.forEach((b) => b.dispose()));

async function linearRows(ops: Ops, x: Float32Array, rows: number, inF: number, w: { dtype: 'q4_0' | 'q4_k' | 'q8_0'; bytes: Uint8Array; outF: number }): Promise<Float32Array> {
  const weight = ops.fromEncoded({ shape: [w.outF, inF], dtype: w.dtype, bytes: w.bytes });
  return (await ops.read(ops.linear(ops.fromHost(x, [rows, inF]), weight))) as Float32Array;
}

for (const dtype of ['q4_0', 'q4_k', 'q8_0'] as const) {
  test(`${dtype} prefill equals row-by-row decode, for row counts and widths that are not multiples of the tiles`, async () => {
    const rng = new Rng(7);
    const { blockElems, blockBytes, quantizeRow } = blockFormats[dtype];
    // 37 outputs: with 2 threads the pool hands out chunks of 8 rows, so the 4-row tiles run, and a 1-row remainder.
    const shapes = dtype === 'q4_k' ? [[2, 256, 1], [5, 512, 7], [9, 768, 6], [13, 256, 11], [6, 512, 37]] : [[2, 32, 1], [5, 96, 7], [9, 2080, 6], [4, 64, 4], [13, 160, 11], [6, 96, 37]];
    for (const [rows, inF, outF] of shapes as [number, number, number][]) {
      const x = Float32Array.from({ length: rows * inF }, () => rng.nextNormal());
      const wf = Float32Array.from({ length: outF * inF }, () => rng.nextNormal());
      const bytes = new Uint8Array((outF * inF / blockElems) * blockBytes);
      quantizeRow(wf, bytes);
      if (dtype === 'q8_0') for (let b = 0; b < bytes.length; b += 34) bytes[b + 2 + (b % 32)] = 0x80; // -128, a file may hold it
      for (const ops of backends) {
        const prefill = await linearRows(ops, x, rows, inF, { dtype, bytes, outF });
        for (let r = 0; r < rows; r++) {
          const decode = await linearRows(ops, x.subarray(r * inF, (r + 1) * inF), 1, inF, { dtype, bytes, outF });
          decode.forEach((want, o) => {
            // Same integers and scales; only the order of f32 additions differs: ~1e-6 of the terms' magnitude.
            const got = prefill[r * outF + o]!;
            assert.ok(Math.abs(got - want) <= 1e-5 * (Math.sqrt(inF) + Math.abs(want)), `${rows}x${inF}->${outF} row ${r} output ${o}: ${got} vs ${want}`);
          });
        }
      }
    }
  });
}
