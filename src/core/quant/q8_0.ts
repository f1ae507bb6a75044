/** Q8_0: 32 elements in 34 bytes, `f16 d; i8 q[32]`, y = q·d. */
import { blockCount, type BlockFormat, type BlockLayout } from './block-format.js';
import { f, int8, readHalf, roundHalfAway, writeHalf } from './float32.js';

const layout: BlockLayout = { type: 'q8_0', name: 'Q8_0', ggmlType: 8, blockElems: 32, blockBytes: 34 };

function dequantizeRow(bytes: Uint8Array, out: Float32Array): void {
  const blocks = blockCount(layout, out.length, bytes.length, 'dequantizeRow');
  for (let b = 0, o = 0; b < blocks; b++, o += 34) {
    const d = readHalf(bytes, o);
    for (let j = 0; j < 32; j++) out[32 * b + j] = int8(bytes[o + 2 + j]!) * d;
  }
}

/** d = max|x| / 127, kept as f16; q = roundf(x · (1/d)) with the f32 d, not its f16. */
function quantizeRow(x: Float32Array, out: Uint8Array): void {
  const blocks = blockCount(layout, x.length, out.length, 'quantizeRow');
  for (let b = 0, o = 0; b < blocks; b++, o += 34) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]!));
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    writeHalf(out, o, d);
    for (let j = 0; j < 32; j++) out[o + 2 + j] = roundHalfAway(f(x[32 * b + j]! * id)); // i8 by wrapping
  }
}

export const q8_0: BlockFormat = { ...layout, dequantizeRow, quantizeRow };
