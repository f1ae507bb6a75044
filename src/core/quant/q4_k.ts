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
  for (let b = 0; b < blocks; b++) quantizeBlock(x, 256 * b, out, 144 * b);
}

// Scratch for quantizeBlock: one sub-block's values, weights and levels, then the block's levels, scales and mins.
const group = new Float32Array(32);
const weights = new Float32Array(32);
const groupLevels = new Uint8Array(32);
const fit = new Float32Array(2);
const L = new Uint8Array(256);
const scales = new Float32Array(8);
const mins = new Float32Array(8);

/**
 * ggml's quantize_row_q4_K_ref on x[at..at+255] into out[o..o+143]: each sub-block gets (scale, min) from
 * make_qkx2_quants with weights |x| + rms(sub-block); d = max scale / 63 and dmin = max min / 63 (as f16); the
 * 6-bit sc, m are the scales and mins against those; finally every level is recomputed against the stored d·sc
 * and dmin·m.
 */
function quantizeBlock(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    for (let i = 0; i < 32; i++) group[i] = x[at + 32 * j + i]!;
    subBlockWeights(group, weights);
    makeQkx2Quants(group, weights, 15, groupLevels, -1, f(0.1), 20, fit);
    L.set(groupLevels, 32 * j);
    scales[j] = fit[0]!;
    mins[j] = fit[1]!;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  packScales(out, o + 4, scales, maxScale > 0 ? f(63 / maxScale) : 0, mins, maxMin > 0 ? f(63 / maxMin) : 0);
  writeHalf(out, o, f(maxScale / 63));
  writeHalf(out, o + 2, f(maxMin / 63));
  const d = readHalf(out, o);
  const dmin = readHalf(out, o + 2);
  for (let j = 0; j < 8; j++) {
    const step = f(d * scaleK4(out, o + 4, j));
    if (!step) continue; // keep make_qkx2_quants' levels
    const min = f(dmin * minK4(out, o + 4, j));
    for (let i = 32 * j; i < 32 * j + 32; i++) L[i] = Math.max(0, Math.min(15, nearestInt(f(f(x[at + i]! + min) / step))));
  }
  for (let c = 0; c < 4; c++) {
    for (let l = 0; l < 32; l++) out[o + 16 + 32 * c + l] = L[64 * c + l]! | (L[64 * c + 32 + l]! << 4);
  }
}

/** w_i = sqrt(Σx²/32) + |x_i|, into `w`. */
function subBlockWeights(x: Float32Array, w: Float32Array): void {
  let sumX2 = 0;
  for (let i = 0; i < 32; i++) sumX2 = f(sumX2 + f(x[i]! * x[i]!));
  const rms = f(Math.sqrt(f(sumX2 / 32)));
  for (let i = 0; i < 32; i++) w[i] = f(rms + Math.abs(x[i]!));
}

/** The 6-bit sc = min(63, nearest_int(iscale·scale)) and m likewise, packed as the 12 scale bytes at out[s]. */
function packScales(out: Uint8Array, s: number, scales: Float32Array, iscale: number, mins: Float32Array, imin: number): void {
  const six = (v: number) => Math.min(63, v & 0xff); // ggml stores nearest_int in a u8, then caps it
  for (let j = 0; j < 8; j++) {
    const sc = six(nearestInt(f(iscale * scales[j]!)));
    const m = six(nearestInt(f(imin * mins[j]!)));
    if (j < 4) {
      out[s + j] = sc;
      out[s + 4 + j] = m;
    } else {
      out[s + 4 + j] = (sc & 0x0f) | ((m & 0x0f) << 4);
      out[s + j - 4] |= (sc >> 4) << 6;
      out[s + j] |= (m >> 4) << 6;
    }
  }
}

export const q4_k: BlockFormat = { ...layout, dequantizeRow, quantizeRow };
