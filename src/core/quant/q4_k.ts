/**
 * Q4_K: 256 elements in 144 bytes, `f16 d; f16 dmin; u8 scales[12]; u8 qs[128]`. Eight sub-blocks of 32, each
 * with a 6-bit scale sc and a 6-bit min m: y = (d·sc)·q − (dmin·m), q a 4-bit level. Bytes 0..3 of `scales` hold
 * sc0..3 (and the top bits of sc4..7), bytes 4..7 hold m0..3 (and the top bits of m4..7), bytes 8..11 the low
 * nibbles of sc4..7 and m4..7. qs[32c + l] holds element 64c + l (low nibble) and 64c + 32 + l (high nibble).
 */
import { blockCount, type BlockFormat, type BlockLayout } from './block-format.js';
import { f, nearestInt, readHalf, writeHalf } from './float32.js';
import { makeQkx2Quants } from './scale-search.js';

const layout: BlockLayout = { type: 'q4_k', name: 'Q4_K', ggmlType: 12, blockElems: 256, blockBytes: 144 };

/** Sub-block j's 6-bit scale from the 12 scale bytes at `s` (ggml's get_scale_min_k4). */
function scaleK4(p: Uint8Array, s: number, j: number): number {
  return j < 4 ? p[s + j]! & 63 : (p[s + j + 4]! & 0x0f) | ((p[s + j - 4]! >> 6) << 4);
}

/** Sub-block j's 6-bit min from the 12 scale bytes at `s`. */
function minK4(p: Uint8Array, s: number, j: number): number {
  return j < 4 ? p[s + j + 4]! & 63 : (p[s + j + 4]! >> 4) | ((p[s + j]! >> 6) << 4);
}

function dequantizeRow(bytes: Uint8Array, out: Float32Array): void {
  const blocks = blockCount(layout, out.length, bytes.length, 'dequantizeRow');
  for (let b = 0, o = 0; b < blocks; b++, o += 144) {
    const d = readHalf(bytes, o);
    const dmin = readHalf(bytes, o + 2);
    for (let j = 0; j < 8; j++) {
      const step = f(d * scaleK4(bytes, o + 4, j));
      const min = f(dmin * minK4(bytes, o + 4, j));
      const qs = o + 16 + 32 * (j >> 1);
      const shift = 4 * (j & 1); // even sub-blocks in the low nibbles, odd in the high
      for (let l = 0; l < 32; l++) out[256 * b + 32 * j + l] = f(step * ((bytes[qs + l]! >> shift) & 0x0f)) - min;
    }
  }
}

function quantizeRow(x: Float32Array, out: Uint8Array): void {
  const blocks = blockCount(layout, x.length, out.length, 'quantizeRow');
  for (let b = 0; b < blocks; b++) quantizeBlock(x.subarray(256 * b, 256 * b + 256), out.subarray(144 * b, 144 * b + 144));
}

/**
 * ggml's quantize_row_q4_K_ref: each sub-block gets (scale, min) from make_qkx2_quants with weights
 * |x| + rms(sub-block); d = max scale / 63 and dmin = max min / 63 (as f16); the 6-bit sc, m are the scales and
 * mins against those; finally every level is recomputed against the stored d·sc and dmin·m.
 */
function quantizeBlock(x: Float32Array, out: Uint8Array): void {
  const L = new Uint8Array(256);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let j = 0; j < 8; j++) {
    const xs = x.subarray(32 * j, 32 * j + 32);
    [scales[j], mins[j]] = makeQkx2Quants(xs, subBlockWeights(xs), 15, L.subarray(32 * j, 32 * j + 32), -1, f(0.1), 20);
  }
  const maxScale = scales.reduce((a, v) => (v > a ? v : a), 0);
  const maxMin = mins.reduce((a, v) => (v > a ? v : a), 0);
  packScales(out, scales, maxScale > 0 ? f(63 / maxScale) : 0, mins, maxMin > 0 ? f(63 / maxMin) : 0);
  writeHalf(out, 0, f(maxScale / 63));
  writeHalf(out, 2, f(maxMin / 63));
  for (let j = 0; j < 8; j++) {
    const step = f(readHalf(out, 0) * scaleK4(out, 4, j));
    if (!step) continue; // keep make_qkx2_quants' levels
    const min = f(readHalf(out, 2) * minK4(out, 4, j));
    for (let i = 32 * j; i < 32 * j + 32; i++) L[i] = Math.max(0, Math.min(15, nearestInt(f(f(x[i]! + min) / step))));
  }
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) out[16 + 32 * c + l] = L[64 * c + l]! | (L[64 * c + 32 + l]! << 4);
  }
}

/** w_i = sqrt(Σx²/32) + |x_i|. */
function subBlockWeights(x: Float32Array): Float32Array {
  let sumX2 = 0;
  for (const v of x) sumX2 = f(sumX2 + f(v * v));
  const rms = f(Math.sqrt(f(sumX2 / 32)));
  return x.map((v) => f(rms + Math.abs(v)));
}

/** The 6-bit sc = min(63, nearest_int(iscale·scale)) and m likewise, packed as the 12 scale bytes at out[4]. */
function packScales(out: Uint8Array, scales: Float32Array, iscale: number, mins: Float32Array, imin: number): void {
  const six = (v: number) => Math.min(63, v & 0xff); // ggml stores nearest_int in a u8, then caps it
  for (let j = 0; j < 8; j++) {
    const sc = six(nearestInt(f(iscale * scales[j]!)));
    const m = six(nearestInt(f(imin * mins[j]!)));
    if (j < 4) {
      out[4 + j] = sc;
      out[8 + j] = m;
    } else {
      out[8 + j] = (sc & 0x0f) | ((m & 0x0f) << 4);
      out[j] |= (sc >> 4) << 6;
      out[4 + j] |= (m >> 4) << 6;
    }
  }
}

export const q4_k: BlockFormat = { ...layout, dequantizeRow, quantizeRow };
