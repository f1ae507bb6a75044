/**
 * Q4_0: 32 elements in 18 bytes, `f16 d; u8 qs[16]`, y = (q − 8)·d. The low nibble of qs[j] is element j, the high
 * nibble element j + 16.
 */
import { blockCount, type BlockFormat, type BlockLayout } from './block-format.js';
import { f, readHalf, writeHalf } from './float32.js';

const layout: BlockLayout = { type: 'q4_0', name: 'Q4_0', ggmlType: 2, blockElems: 32, blockBytes: 18 };

function dequantizeRow(bytes: Uint8Array, out: Float32Array): void {
  const blocks = blockCount(layout, out.length, bytes.length, 'dequantizeRow');
  for (let b = 0, o = 0; b < blocks; b++, o += 18) {
    const d = readHalf(bytes, o);
    for (let j = 0; j < 16; j++) {
      const q = bytes[o + 2 + j]!;
      out[32 * b + j] = ((q & 0x0f) - 8) * d;
      out[32 * b + j + 16] = ((q >> 4) - 8) * d;
    }
  }
}

/**
 * d = m / −8 where m is the first value of largest magnitude (so m maps to q = 0 and the other side gets 15 steps);
 * q = min(15, trunc(x · (1/d) + 8.5)), computed in f32 with the f32 d.
 */
function quantizeRow(x: Float32Array, out: Uint8Array): void {
  const blocks = blockCount(layout, x.length, out.length, 'quantizeRow');
  for (let b = 0, o = 0; b < blocks; b++, o += 18) {
    const xb = x.subarray(32 * b, 32 * b + 32);
    const d = f(extreme(xb) / -8);
    const id = d ? f(1 / d) : 0;
    const nibble = (v: number) => Math.min(15, Math.trunc(f(f(v * id) + 8.5)));
    writeHalf(out, o, d);
    for (let j = 0; j < 16; j++) out[o + 2 + j] = nibble(xb[j]!) | (nibble(xb[j + 16]!) << 4);
  }
}

/** The first element of largest magnitude (0 for an all-zero block). */
function extreme(x: Float32Array): number {
  let amax = 0;
  let max = 0;
  for (const v of x) {
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

export const q4_0: BlockFormat = { ...layout, dequantizeRow, quantizeRow };
