/** Floating-point element types; activations are always f32, weights may be any. */
export type FloatDType = 'f32' | 'f16' | 'bf16';
/** GGUF block-quantized weight types (see core/quant): blocks of 32 or 256 elements along each row. */
export type QuantDType = 'q8_0' | 'q4_0' | 'q4_k' | 'q6_k';
/** Element types a tensor may hold: i32 for token ids. */
export type DType = FloatDType | QuantDType | 'i32';

/** Bytes per element of the element-wise types. */
export const dtypeBytes: Record<FloatDType | 'i32', number> = { f32: 4, f16: 2, bf16: 2, i32: 4 };

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE-754 binary16 bits -> number (exact: every f16 is representable in f32). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero or subnormal
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** number -> binary16 bits, round to nearest even (as numpy/torch `.half()`). */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    const m = mant | 0x800000; // implicit leading 1
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++; // may carry into the exponent: still correct
  return sign | r;
}

/** bfloat16 bits -> number (the top half of an f32). */
export function bf16ToF32(b: number): number {
  u32Scratch[0] = b << 16;
  return f32Scratch[0]!;
}

/** number -> bfloat16 bits, round to nearest even (as torch `.bfloat16()`); NaN stays NaN. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decode little-endian f16/bf16/f32 bytes into a fresh Float32Array. */
export function decodeFloats(bytes: Uint8Array, dtype: FloatDType): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / dtypeBytes[dtype];
  const out = new Float32Array(n);
  if (dtype === 'f32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  else if (dtype === 'f16') for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(2 * i, true));
  else for (let i = 0; i < n; i++) out[i] = bf16ToF32(view.getUint16(2 * i, true));
  return out;
}
