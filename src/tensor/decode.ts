import { decodeFloats } from '../core/dtype.js';
import { dequantizeRow } from '../core/quant/index.js';
import type { EncodedTensor } from './tensor.js';

/** Decode an encoded weight to f32 (exactly: every f16/bf16 value and every dequantized block value is an f32). */
export function decodeTensor(t: EncodedTensor): Float32Array {
  if (t.dtype === 'f16' || t.dtype === 'bf16') return decodeFloats(t.bytes, t.dtype);
  const cols = t.shape[t.shape.length - 1]!;
  const rows = t.bytes.length === 0 ? 0 : t.shape.reduce((a, b) => a * b, 1) / cols;
  const out = new Float32Array(rows * cols);
  const rowBytes = t.bytes.length / rows;
  for (let r = 0; r < rows; r++) dequantizeRow(t.dtype, t.bytes.subarray(r * rowBytes, (r + 1) * rowBytes), out.subarray(r * cols, (r + 1) * cols));
  return out;
}
