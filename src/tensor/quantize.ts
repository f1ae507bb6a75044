/**
 * f32 rows -> GGUF blocks. Q8_0 and Q4_0 follow ggml's reference quantizers (quantize_row_q8_0_ref /
 * quantize_row_q4_0_ref, f32 arithmetic in their order, so the blocks are bit-identical). Q4_K and Q6_K use plain
 * min/max scales per sub-block rather than ggml's searched scales: valid blocks that any GGUF reader decodes the
 * same way, with somewhat larger rounding error than llama.cpp's own quantizer (see the issue notes).
 */
import { f32ToF16, f16ToF32, type QuantDType } from '../core/dtype.js';
import { blockLayout } from './dequantize.js';

const f = Math.fround;

/** Quantize `x` (a whole number of blocks) into a new byte array. */
export function quantizeRow(type: QuantDType, x: Float32Array): Uint8Array {
  const { elems, bytes } = blockLayout[type];
  const out = new Uint8Array((x.length / elems) * bytes);
  const encode = { q8_0: q8_0, q4_0: q4_0, q4_k: q4_k, q6_k: q6_k }[type];
  for (let b = 0; b < x.length / elems; b++) encode(x.subarray(b * elems, (b + 1) * elems), new DataView(out.buffer, b * bytes, bytes));
  return out;
}

/** d = max|x| / 127 (f16), q = round(x / d), halves away from zero (C roundf). */
function q8_0(x: Float32Array, out: DataView): void {
  let amax = 0;
  for (const v of x) amax = Math.max(amax, Math.abs(v));
  const d = f(amax / 127);
  const id = d ? f(1 / d) : 0;
  out.setUint16(0, f32ToF16(d), true);
  for (let j = 0; j < 32; j++) out.setInt8(2 + j, roundAway(f(x[j]! * id)));
}

/** d = (the value of largest magnitude) / -8 (f16), nibble = min(15, trunc(x / d + 8.5)); low nibbles hold x[0..15]. */
function q4_0(x: Float32Array, out: DataView): void {
  let amax = 0;
  let max = 0;
  for (const v of x) {
    if (amax < Math.abs(v)) (amax = Math.abs(v)), (max = v);
  }
  const d = f(max / -8);
  const id = d ? f(1 / d) : 0;
  out.setUint16(0, f32ToF16(d), true);
  const nibble = (v: number) => Math.min(15, Math.trunc(f(f(v * id) + 8.5)));
  for (let j = 0; j < 16; j++) out.setUint8(2 + j, nibble(x[j]!) | (nibble(x[j + 16]!) << 4));
}

/**
 * Q4_K: 8 sub-blocks of 32, y = d sc q - dmin m with 4-bit q and 6-bit sc, m. Each sub-block's range
 * [min(0, lo), hi] maps onto 0..15; the sub-block scales and mins are then quantized against the block's d, dmin.
 */
function q4_k(x: Float32Array, out: DataView): void {
  const scale = new Float64Array(8), min = new Float64Array(8);
  for (let j = 0; j < 8; j++) {
    const sub = x.subarray(32 * j, 32 * j + 32);
    const lo = Math.min(0, ...sub), hi = Math.max(...sub);
    scale[j] = (hi - lo) / 15;
    min[j] = -lo;
  }
  const d = f16ToF32(f32ToF16(Math.max(...scale) / 63)), dmin = f16ToF32(f32ToF16(Math.max(...min) / 63));
  const sc = Array.from(scale, (s) => (d ? Math.min(63, Math.round(s / d)) : 0));
  const m = Array.from(min, (v) => (dmin ? Math.min(63, Math.round(v / dmin)) : 0));
  out.setUint16(0, f32ToF16(d), true);
  out.setUint16(2, f32ToF16(dmin), true);
  for (let j = 0; j < 4; j++) {
    out.setUint8(4 + j, (sc[j]! & 63) | ((sc[j + 4]! >> 4) << 6));
    out.setUint8(8 + j, (m[j]! & 63) | ((m[j + 4]! >> 4) << 6));
    out.setUint8(12 + j, (sc[j + 4]! & 0x0f) | ((m[j + 4]! & 0x0f) << 4));
  }
  const q = (i: number) => {
    const j = i >> 5;
    const step = d * sc[j]!;
    return step ? Math.max(0, Math.min(15, Math.round((x[i]! + dmin * m[j]!) / step))) : 0;
  };
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) out.setUint8(16 + 32 * c + l, q(64 * c + l) | (q(64 * c + 32 + l) << 4));
  }
}

/**
 * Q6_K: 16 sub-blocks of 16, y = d sc q with 6-bit signed q (-32..31) and int8 sc. Each sub-block's value of
 * largest magnitude maps to -32 (as ggml does), and the sub-block scales are quantized against d = max|scale| / 127.
 */
function q6_k(x: Float32Array, out: DataView): void {
  const scale = new Float64Array(16);
  for (let j = 0; j < 16; j++) {
    let max = 0;
    for (let i = 16 * j; i < 16 * j + 16; i++) if (Math.abs(x[i]!) > Math.abs(max)) max = x[i]!;
    scale[j] = max / -32;
  }
  let amax = 0;
  for (const s of scale) amax = Math.max(amax, Math.abs(s));
  const d = f16ToF32(f32ToF16(amax / 127));
  const sc = Array.from(scale, (s) => (d ? Math.max(-128, Math.min(127, Math.round(s / d))) : 0));
  const q = (i: number) => {
    const step = d * sc[i >> 4]!;
    return (step ? Math.max(-32, Math.min(31, Math.round(x[i]! / step))) : 0) + 32;
  };
  for (let h = 0; h < 2; h++) {
    for (let l = 0; l < 32; l++) {
      const [q1, q2, q3, q4] = [0, 32, 64, 96].map((o) => q(128 * h + l + o)) as [number, number, number, number];
      out.setUint8(64 * h + l, (q1 & 0x0f) | ((q3 & 0x0f) << 4));
      out.setUint8(64 * h + l + 32, (q2 & 0x0f) | ((q4 & 0x0f) << 4));
      out.setUint8(128 + 32 * h + l, (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
  sc.forEach((s, j) => out.setInt8(192 + j, s));
  out.setUint16(208, f32ToF16(d), true);
}

function roundAway(v: number): number {
  return Math.sign(v) * Math.round(Math.abs(v));
}
