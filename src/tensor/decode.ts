import { decodeFloats } from '../core/dtype.js';
import { UnsupportedError } from '../core/errors.js';
import type { EncodedTensor } from './tensor.js';

/** Decode an encoded weight to f32 (exactly: every f16/bf16 value and every dequantized block value is an f32). */
export function decodeTensor(t: EncodedTensor): Float32Array {
  if (t.dtype === 'f16' || t.dtype === 'bf16') return decodeFloats(t.bytes, t.dtype);
  throw new UnsupportedError('tensor', t.dtype, `decoding ${t.dtype} on the host`);
}
