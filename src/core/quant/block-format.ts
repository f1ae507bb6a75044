import type { QuantDType } from '../dtype.js';
import { ArgumentError } from '../errors.js';

/** The GGUF block-quantized types we read and write (the same names as the tensor dtypes). */
export type QuantType = QuantDType;

/** The k-quant types, whose reference quantizers (a scale search per 16 or 32 values) are the slow ones. */
export type KQuantType = 'q4_k' | 'q6_k';

/** Quantizes a whole tensor (a whole number of blocks) to a k-quant type, byte for byte as quantizeRow does. */
export type TensorQuantizer = (type: KQuantType, x: Float32Array) => Uint8Array;

/** How a type lays out its blocks: `blockBytes` bytes hold `blockElems` consecutive elements of a row. */
export interface BlockLayout {
  type: QuantType;
  /** ggml's name, as GGUF files and llama.cpp print it. */
  name: string;
  /** ggml_type id in a GGUF tensor info. */
  ggmlType: number;
  blockElems: number;
  blockBytes: number;
}

/** A block type with its codecs, both bit-exact with ggml's reference C. */
export interface BlockFormat extends BlockLayout {
  /** Decode `bytes` (out.length / blockElems blocks) into `out` (dequantize_row_*). */
  dequantizeRow(bytes: Uint8Array, out: Float32Array): void;
  /** Encode `x` (a whole number of blocks) into `out` (quantize_row_*_ref, llama-quantize without an imatrix). */
  quantizeRow(x: Float32Array, out: Uint8Array): void;
}

/** Blocks in a row of `elems` elements held in `bytes` bytes; ArgumentError unless the two agree. */
export function blockCount(layout: BlockLayout, elems: number, bytes: number, where: string): number {
  const blocks = elems / layout.blockElems;
  if (!Number.isInteger(blocks)) {
    throw new ArgumentError(`${where} ${layout.name} row`, `a multiple of ${layout.blockElems} elements`, `${elems}`);
  }
  if (bytes !== blocks * layout.blockBytes) {
    throw new ArgumentError(`${where} ${layout.name} row`, `${blocks * layout.blockBytes} bytes for ${elems} elements`, `${bytes} bytes`);
  }
  return blocks;
}
