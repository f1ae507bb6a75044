// Weight rows decoded to f32, for the prefill mat-muls of the block and half types: a few rows at a time are
// decoded into per-thread scratch and then multiplied with the f32 register-tiled kernel, so the decode cost is
// shared by every row of x. Same math as src/core/quant (the host reference, bit-exact with ggml).
import { f16, F16_REBIAS, f16x8High, f16x8Low } from './simd';

/** Bytes of one row of `cols` elements of a weight type (0 f32, 1 f16, 30 bf16, 8 q8_0, 2 q4_0, 12 q4_k, 14 q6_k). */
export function rowBytes(type: i32, cols: i32): usize {
  if (type == 0) return <usize>cols * 4;
  if (type == 1 || type == 30) return <usize>cols * 2;
  if (type == 8) return <usize>(cols / 32) * 34;
  if (type == 2) return <usize>(cols / 32) * 18;
  if (type == 12) return <usize>(cols / 256) * 144;
  return <usize>(cols / 256) * 210; // 14
}

/** out (cols f32) = row w of the given ggml type. */
export function dequantizeRow(type: i32, w: usize, out: usize, cols: i32): void {
  if (type == 1) halvesToF32(w, out, cols, false);
  else if (type == 30) halvesToF32(w, out, cols, true);
  else if (type == 8) for (let b = 0; b < cols / 32; b++) q8_0(w + <usize>b * 34, out + <usize>b * 128);
  else if (type == 2) for (let b = 0; b < cols / 32; b++) q4_0(w + <usize>b * 18, out + <usize>b * 128);
  else if (type == 12) for (let b = 0; b < cols / 256; b++) q4_k(w + <usize>b * 144, out + <usize>b * 1024);
  else if (type == 14) for (let b = 0; b < cols / 256; b++) q6_k(w + <usize>b * 210, out + <usize>b * 1024);
  else memory.copy(out, w, <usize>cols * 4);
}

/** out (cols f32) = cols f16 or bf16 values at w, 8 at a time (f16x8Low/High; bf16 is the top half of an f32). */
function halvesToF32(w: usize, out: usize, cols: i32, bf16: bool): void {
  const rebias = f32x4.splat(F16_REBIAS);
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
    store<f32>(out + <usize>c * 4, bf16 ? reinterpret<f32>(h << 16) : f16(h));
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
      const sc: u32 = j < 4 ? load<u8>(s + j) & 63 : (load<u8>(s + j + 4) & 0x0f) | ((load<u8>(s + j - 4) >> 6) << 4);
      const m: u32 = j < 4 ? load<u8>(s + j + 4) & 63 : (load<u8>(s + j + 4) >> 4) | ((load<u8>(s + j) >> 6) << 4);
      const d1 = d * <f32>sc, m1 = dmin * <f32>m;
      for (let l = 0; l < 32; l++) {
        const q = load<u8>(p + 16 + 32 * c + l);
        store<f32>(y + <usize>(64 * c + 32 * half + l) * 4, d1 * <f32>(half == 0 ? q & 0x0f : q >> 4) - m1);
      }
    }
  }
}

function q6_k(p: usize, y: usize): void {
  const d = f16(load<u16>(p + 208));
  for (let h = 0; h < 2; h++) {
    const ql = p + 64 * h, qh = p + 128 + 32 * h, sc = p + 192 + 8 * h;
    for (let l = 0; l < 32; l++) {
      const s = l >> 4;
      const H = load<u8>(qh + l);
      const L0 = load<u8>(ql + l), L1 = load<u8>(ql + l + 32);
      const o = y + <usize>(128 * h + l) * 4;
      store<f32>(o, d * <f32>load<i8>(sc + s) * <f32>(<i32>((L0 & 0x0f) | ((H & 3) << 4)) - 32));
      store<f32>(o + 128, d * <f32>load<i8>(sc + s + 2) * <f32>(<i32>((L1 & 0x0f) | (((H >> 2) & 3) << 4)) - 32));
      store<f32>(o + 256, d * <f32>load<i8>(sc + s + 4) * <f32>(<i32>((L0 >> 4) | (((H >> 4) & 3) << 4)) - 32));
      store<f32>(o + 384, d * <f32>load<i8>(sc + s + 6) * <f32>(<i32>((L1 >> 4) | (((H >> 6) & 3) << 4)) - 32));
    }
  }
}
