/**
 * Float32 arithmetic as ggml's C does it: every `f(...)` below is one C float operation, rounded to f32 (a double
 * result of +, -, *, / or sqrt on f32 operands rounds to the same f32 as the f32 operation would). Plus the two
 * rounding rules and the f16 scale fields the block formats use.
 */
import { f16ToF32, f32ToF16 } from '../dtype.js';

export const f = Math.fround;

/**
 * ggml's `nearest_int`: it adds 1.5·2^23 in f32 and reads the mantissa, which rounds to nearest with ties to even
 * (valid for |v| ≤ 2^22, as ggml asserts). Math.round sends ties up, so an odd tie result steps back by one.
 */
export function nearestInt(v: number): number {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0 ? r - 1 : r) | 0;
}

/**
 * nearestInt for the search loops, whose values are bounded: ggml's own form, 1.5·2^23 added in f32. For an f32 v
 * with |v| < 2^22 the sum lies in (2^23, 2^24), where f32 steps by 1, so its rounding is v rounded to nearest with
 * ties to even, plus 1.5·2^23 (an even integer); `f` of the double sum is that f32 sum (the double rounding is
 * harmless, as above). ±Infinity and NaN give 0, like nearestInt. Other values (|v| ≥ 2^22) may differ.
 */
export function nearestSmallInt(v: number): number {
  return (f(v + 12582912) - 12582912) | 0;
}

/** C's `roundf`: to nearest, ties away from zero. */
export function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/** The i8 stored in byte `b`. */
export function int8(b: number): number {
  return (b << 24) >> 24;
}

/** The little-endian f16 at `bytes[i]`, as f32 (GGML_FP16_TO_FP32, exact). */
export function readHalf(bytes: Uint8Array, i: number): number {
  return f16ToF32(bytes[i]! | (bytes[i + 1]! << 8));
}

/** Store the f32 `v` as a little-endian f16 at `bytes[i]` (GGML_FP32_TO_FP16: round to nearest even). */
export function writeHalf(bytes: Uint8Array, i: number, v: number): void {
  const h = f32ToF16(v);
  bytes[i] = h & 0xff;
  bytes[i + 1] = h >> 8;
}
