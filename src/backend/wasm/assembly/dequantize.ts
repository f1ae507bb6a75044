// Weight rows decoded to f32, for the prefill mat-muls of the block and half types: a few rows at a time are
// decoded into per-thread scratch and then multiplied with the f32 register-tiled kernel, so the decode cost is
// shared by every row of x. Same math as src/core/quant (the host reference, bit-exact with ggml).
import { q4kMin, q4kScale, q6Values } from './dot';
import { REBASE_BITS } from './rebase';
import { f16, F16_REBIAS, f16x8High, f16x8Low } from './simd';

/** Our own type id beside ggml's: f16 rebased at load, times 2^10 (rebase.ts). */
export const F16_REBASED = 257;

/**
 * Bytes of one row of `cols` elements of a weight type (0 f32, 1 f16, 30 bf16, 8 q8_0, 2 q4_0, 12 q4_k, 14 q6_k,
 * and F16_REBASED).
 */
export function rowBytes(type: i32, cols: i32): usize {
  if (type == 0) return <usize>cols * 4;
  if (type == 1 || type == 30 || type == F16_REBASED) return <usize>cols * 2;
  if (type == 8) return <usize>(cols / 32) * 34;
  if (type == 2) return <usize>(cols / 32) * 18;
  if (type == 12) return <usize>(cols / 256) * 144;
  return <usize>(cols / 256) * 210; // 14
}

/** out (cols f32) = row w of the given ggml type. */
export function dequantizeRow(type: i32, w: usize, out: usize, cols: i32): void {
  if (type == 1) halvesToF32(w, out, cols, false, F16_REBIAS);
  else if (type == F16_REBASED) halvesToF32(w, out, cols, false, reinterpret<f32>((127 + 112 - REBASE_BITS) << 23));
  else if (type == 30) halvesToF32(w, out, cols, true, 1);
  else if (type == 8) for (let b = 0; b < cols / 32; b++) q8_0(w + <usize>b * 34, out + <usize>b * 128);
  else if (type == 2) for (let b = 0; b < cols / 32; b++) q4_0(w + <usize>b * 18, out + <usize>b * 128);
  else if (type == 12) for (let b = 0; b < cols / 256; b++) q4_k(w + <usize>b * 144, out + <usize>b * 1024);
  else if (type == 14) for (let b = 0; b < cols / 256; b++) q6_k(w + <usize>b * 210, out + <usize>b * 1024);
  else memory.copy(out, w, <usize>cols * 4);
}

/**
 * out (cols f32) = cols f16 or bf16 values at w, 8 at a time (f16x8Low/High, times 2^112, or 2^102 for rebased
 * halves; bf16 is the top half of an f32).
 */
function halvesToF32(w: usize, out: usize, cols: i32, bf16: bool, f16Rebias: f32): void {
  const rebias = f32x4.splat(f16Rebias);
  let c = 0;
  for (; c + 8 <= cols; c += 8) {
    const h = v128.load(w + <usize>c * 2), o = out + <usize>c * 4;
    if (bf16) {
      v128.store(o, i32x4.shl(i32x4.extend_low_i16x8_u(h), 16));
      v128.store(o + 16, i32x4.shl(i32x4.extend_high_i16x8_u(h), 16));
    } else {
      v128.store(o, f32x4.mul(f16x8Low(h), rebias));
      v128.store(o + 16, f32x4.mul(f16x8High(h), rebias));
    }
  }
  for (; c < cols; c++) {
    const h = <u32>load<u16>(w + <usize>c * 2);
    store<f32>(out + <usize>c * 4, bf16 ? reinterpret<f32>(h << 16) : f16(h) * (f16Rebias / F16_REBIAS));
  }
}

function q8_0(p: usize, y: usize): void {
  const d = f16(load<u16>(p));
  for (let j = 0; j < 32; j++) store<f32>(y + <usize>j * 4, <f32>load<i8>(p + 2 + j) * d);
}

function q4_0(p: usize, y: usize): void {
  const d = f16(load<u16>(p));
  for (let j = 0; j < 16; j++) {
    const q = load<u8>(p + 2 + j);
    store<f32>(y + <usize>j * 4, <f32>(<i32>(q & 0x0f) - 8) * d);
    store<f32>(y + <usize>(j + 16) * 4, <f32>(<i32>(q >> 4) - 8) * d);
  }
}

function q4_k(p: usize, y: usize): void {
  const d = f16(load<u16>(p)), dmin = f16(load<u16>(p + 2));
  const s = p + 4;
  for (let c = 0; c < 4; c++) {
    for (let half = 0; half < 2; half++) {
      const j = 2 * c + half;
      const d1 = d * <f32>q4kScale(s, j), m1 = dmin * <f32>q4kMin(s, j);
      for (let l = 0; l < 32; l++) {
        const q = load<u8>(p + 16 + 32 * c + l);
        store<f32>(y + <usize>(64 * c + 32 * half + l) * 4, d1 * <f32>(half == 0 ? q & 0x0f : q >> 4) - m1);
      }
    }
  }
}

/**
 * Q6_K block at p (see dot.ts's dotQ6_KRows for the layout) to 256 f32 at y: per half h, group t's 32 values (q6Values,
 * 16 at a time, scales sc[2t] and sc[2t + 1]), less 32, widened to f32 and scaled by d times their scale.
 */
function q6_k(p: usize, y: usize): void {
  const d = f16(load<u16>(p + 208));
  const low4 = i8x16.splat(0x0f), top2 = i8x16.splat(0x30), bias = i8x16.splat(32);
  for (let h = 0; h < 2; h++) {
    const ql = p + 64 * h, qh = p + 128 + 32 * h, sc = p + 192 + 8 * h, o = y + <usize>(128 * h) * 4;
    const L0a = v128.load(ql), L0b = v128.load(ql + 16), L1a = v128.load(ql + 32), L1b = v128.load(ql + 48);
    const Ha = v128.load(qh), Hb = v128.load(qh + 16);
    q6Store(q6Values(L0a, Ha, 0, low4, top2), q6Values(L0b, Hb, 0, low4, top2), bias, d, sc, o);
    q6Store(q6Values(L1a, Ha, 1, low4, top2), q6Values(L1b, Hb, 1, low4, top2), bias, d, sc + 2, o + 128);
    q6Store(q6Values(L0a, Ha, 2, low4, top2), q6Values(L0b, Hb, 2, low4, top2), bias, d, sc + 4, o + 256);
    q6Store(q6Values(L1a, Ha, 3, low4, top2), q6Values(L1b, Hb, 3, low4, top2), bias, d, sc + 6, o + 384);
  }
}

/** 32 f32 at o = (the bytes ua then ub, 0..63, less `bias` 32) times d and the scales at sc and sc + 1. */
// @ts-ignore: decorator
@inline function q6Store(ua: v128, ub: v128, bias: v128, d: f32, sc: usize, o: usize): void {
  widenScaled(i8x16.sub(ua, bias), f32x4.splat(d * <f32>load<i8>(sc)), o);
  widenScaled(i8x16.sub(ub, bias), f32x4.splat(d * <f32>load<i8>(sc + 1)), o + 64);
}

/** 16 f32 at o = the 16 signed bytes q times s. */
// @ts-ignore: decorator
@inline function widenScaled(q: v128, s: v128, o: usize): void {
  const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
  v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), s));
  v128.store(o + 16, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), s));
  v128.store(o + 32, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), s));
  v128.store(o + 48, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), s));
}
