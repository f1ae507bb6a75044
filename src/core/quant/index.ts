/**
 * GGUF block quantization (Q8_0, Q4_0, Q4_K, Q6_K): codecs bit-exact with ggml's reference C, checked against
 * ggml's own output in test/fixtures/ggml-quants.
 */
import type { BlockFormat, QuantType } from './block-format.js';
import { q4_0 } from './q4_0.js';
import { q4_k } from './q4_k.js';
import { q6_k } from './q6_k.js';
import { q8_0 } from './q8_0.js';

export type { BlockFormat, BlockLayout, KQuantType, QuantType, TensorQuantizer } from './block-format.js';
export { q4_0, q4_k, q6_k, q8_0 };

export const blockFormats: Readonly<Record<QuantType, BlockFormat>> = { q8_0, q4_0, q4_k, q6_k };

const byGgmlType = new Map(Object.values(blockFormats).map((format) => [format.ggmlType, format]));

/** The block format stored under this ggml_type id, or undefined for any other type. */
export function blockFormatForGgmlType(ggmlType: number): BlockFormat | undefined {
  return byGgmlType.get(ggmlType);
}

/** Decode one row: `out.length` elements from out.length / blockElems blocks in `bytes`. */
export function dequantizeRow(type: QuantType, bytes: Uint8Array, out: Float32Array): void {
  blockFormats[type].dequantizeRow(bytes, out);
}

/** Encode one row (a whole number of blocks) into `out`, exactly as llama-quantize does without an imatrix. */
export function quantizeRow(type: QuantType, x: Float32Array, out: Uint8Array): void {
  blockFormats[type].quantizeRow(x, out);
}
