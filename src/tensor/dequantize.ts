/**
 * GGUF block formats decoded to f32 (layouts from the GGUF spec; f32 arithmetic in the order ggml's
 * dequantize_row_* uses, so each value is the f32 ggml computes). One row of `out.length` elements from `bytes`.
 */
import { f16ToF32, type QuantDType } from '../core/dtype.js';

const f = Math.fround;

/** Elements and bytes per block of each type. */
export const blockLayout: Record<QuantDType, { elems: number; bytes: number }> = {
  q8_0: { elems: 32, bytes: 34 }, q4_0: { elems: 32, bytes: 18 }, q4_k: { elems: 256, bytes: 144 }, q6_k: { elems: 256, bytes: 210 },
};

export function dequantizeRow(type: QuantDType, bytes: Uint8Array, out: Float32Array): void {
  const { elems, bytes: size } = blockLayout[type];
  const decode = { q8_0: q8_0, q4_0: q4_0, q4_k: q4_k, q6_k: q6_k }[type];
  for (let b = 0; b < out.length / elems; b++) decode(bytes.subarray(b * size, (b + 1) * size), out.subarray(b * elems, (b + 1) * elems));
}

const half = (p: Uint8Array, i: number) => f16ToF32(p[i]! | (p[i + 1]! << 8));
const int8 = (v: number) => (v << 24) >> 24;

/** f16 d; int8 qs[32]: y = q d. */
function q8_0(p: Uint8Array, y: Float32Array): void {
  const d = half(p, 0);
  for (let j = 0; j < 32; j++) y[j] = int8(p[2 + j]!) * d;
}

/** f16 d; 16 bytes: low nibbles are elements 0..15, high nibbles 16..31; y = (q - 8) d. */
function q4_0(p: Uint8Array, y: Float32Array): void {
  const d = half(p, 0);
  for (let j = 0; j < 16; j++) {
    y[j] = ((p[2 + j]! & 0x0f) - 8) * d;
    y[j + 16] = ((p[2 + j]! >> 4) - 8) * d;
  }
}

/** f16 d, f16 dmin, 12 bytes of 6-bit (scale, min) pairs, 128 nibble bytes: y = (d sc) q - (dmin m) per 32. */
function q4_k(p: Uint8Array, y: Float32Array): void {
  const d = half(p, 0);
  const dmin = half(p, 2);
  const s = p.subarray(4, 16);
  const pair = (j: number): [number, number] => j < 4
    ? [s[j]! & 63, s[j + 4]! & 63]
    : [(s[j + 4]! & 0x0f) | ((s[j - 4]! >> 6) << 4), (s[j + 4]! >> 4) | ((s[j]! >> 6) << 4)];
  for (let c = 0; c < 4; c++) {
    const [sc1, m1] = pair(2 * c);
    const [sc2, m2] = pair(2 * c + 1);
    const [d1, min1, d2, min2] = [f(d * sc1), f(dmin * m1), f(d * sc2), f(dmin * m2)];
    for (let l = 0; l < 32; l++) {
      const q = p[16 + 32 * c + l]!;
      y[64 * c + l] = f(d1 * (q & 0x0f)) - min1;
      y[64 * c + 32 + l] = f(d2 * (q >> 4)) - min2;
    }
  }
}

/** 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d (last): 6-bit q - 32, y = (d sc) q per 16. */
function q6_k(p: Uint8Array, y: Float32Array): void {
  const d = half(p, 208);
  for (let h = 0; h < 2; h++) {
    const ql = p.subarray(64 * h), qh = p.subarray(128 + 32 * h), sc = p.subarray(192 + 8 * h);
    for (let l = 0; l < 32; l++) {
      const s = l >> 4;
      const q1 = ((ql[l]! & 0x0f) | (((qh[l]! >> 0) & 3) << 4)) - 32;
      const q2 = ((ql[l + 32]! & 0x0f) | (((qh[l]! >> 2) & 3) << 4)) - 32;
      const q3 = ((ql[l]! >> 4) | (((qh[l]! >> 4) & 3) << 4)) - 32;
      const q4 = ((ql[l + 32]! >> 4) | (((qh[l]! >> 6) & 3) << 4)) - 32;
      y[128 * h + l] = f(d * int8(sc[s]!)) * q1;
      y[128 * h + l + 32] = f(d * int8(sc[s + 2]!)) * q2;
      y[128 * h + l + 64] = f(d * int8(sc[s + 4]!)) * q3;
      y[128 * h + l + 96] = f(d * int8(sc[s + 6]!)) * q4;
    }
  }
}
