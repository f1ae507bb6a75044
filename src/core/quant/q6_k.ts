/**
 * Q6_K: 256 elements in 210 bytes, `u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d` (d last). Sixteen sub-blocks of
 * 16: y = (d·scales[i/16])·(q − 32), q a 6-bit level. In half h (128 elements), element 128h + 32k + l (k = 0..3,
 * l = 0..31) takes its low 4 bits from ql[64h + l + 32(k&1)] (low nibble for k < 2, high for k ≥ 2) and its top 2
 * bits from bits 2k..2k+1 of qh[32h + l].
 */
import { blockCount, type BlockFormat, type BlockLayout } from './block-format.js';
import { f, int8, nearestInt, readHalf, writeHalf } from './float32.js';
import { groupMaxEps, makeQxQuants } from './scale-search.js';

const layout: BlockLayout = { type: 'q6_k', name: 'Q6_K', ggmlType: 14, blockElems: 256, blockBytes: 210 };

function dequantizeRow(bytes: Uint8Array, out: Float32Array): void {
  const blocks = blockCount(layout, out.length, bytes.length, 'dequantizeRow');
  for (let b = 0, o = 0; b < blocks; b++, o += 210) {
    const d = readHalf(bytes, o + 208);
    forEachQuarter((i, ql, shiftL, qh, shiftH) => {
      const step = [f(d * int8(bytes[o + 192 + (i >> 4)]!)), f(d * int8(bytes[o + 193 + (i >> 4)]!))];
      for (let l = 0; l < 32; l++) {
        const q = ((bytes[o + ql + l]! >> shiftL) & 0x0f) | (((bytes[o + qh + l]! >> shiftH) & 3) << 4);
        out[256 * b + i + l] = step[l >> 4]! * (q - 32);
      }
    });
  }
}

/**
 * Calls `fn` for each run of 32 elements i..i+31 (i = 128h + 32k): their low nibbles are ql[l] >> shiftL and their
 * top bits qh[l] >> shiftH (l = 0..31), with ql, qh byte offsets within the block.
 */
function forEachQuarter(fn: (i: number, ql: number, shiftL: number, qh: number, shiftH: number) => void): void {
  for (let h = 0; h < 2; h++) {
    for (let k = 0; k < 4; k++) fn(128 * h + 32 * k, 64 * h + 32 * (k & 1), 4 * (k >> 1), 128 + 32 * h, 2 * k);
  }
}

function quantizeRow(x: Float32Array, out: Uint8Array): void {
  const blocks = blockCount(layout, x.length, out.length, 'quantizeRow');
  for (let b = 0; b < blocks; b++) quantizeBlock(x, 256 * b, out, 210 * b);
}

// Scratch for quantizeBlock: one sub-block's values and levels, then the block's levels and scales.
const group = new Float32Array(16);
const groupLevels = new Uint8Array(16);
const L = new Uint8Array(256);
const scales = new Float32Array(16);

/**
 * ggml's quantize_row_q6_K_ref on x[at..at+255] into out[o..o+209]: each sub-block's scale from make_qx_quants
 * (nmax 32); d = −(the scale of largest magnitude) / 128 as f16 and the int8 scales are nearest_int(scale / d)
 * capped at 127; then every level is recomputed against the stored d·scale (a zero one keeps make_qx_quants'
 * levels). A block whose scales are all below 1e-15 is all zero bytes.
 */
function quantizeBlock(x: Float32Array, at: number, out: Uint8Array, o: number): void {
  let maxScale = 0;
  for (let j = 0; j < 16; j++) {
    for (let i = 0; i < 16; i++) group[i] = x[at + 16 * j + i]!;
    scales[j] = makeQxQuants(group, 32, groupLevels);
    L.set(groupLevels, 16 * j);
    if (Math.abs(scales[j]!) > Math.abs(maxScale)) maxScale = scales[j]!;
  }
  if (Math.abs(maxScale) < groupMaxEps) {
    out.fill(0, o, o + 210);
    return;
  }
  const iscale = f(-128 / maxScale);
  writeHalf(out, o + 208, f(1 / iscale));
  for (let j = 0; j < 16; j++) out[o + 192 + j] = Math.min(127, nearestInt(f(iscale * scales[j]!))); // i8 by wrapping
  const d = readHalf(out, o + 208);
  for (let j = 0; j < 16; j++) {
    const step = f(d * int8(out[o + 192 + j]!));
    if (!step) continue;
    for (let i = 16 * j; i < 16 * j + 16; i++) L[i] = Math.max(-32, Math.min(31, nearestInt(f(x[at + i]! / step)))) + 32;
  }
  packLevels(L, out, o);
}

/** Levels 0..63 into ql (low nibbles) and qh (top two bits) of the block at out[o], per the layout above. */
function packLevels(L: Uint8Array, out: Uint8Array, o: number): void {
  out.fill(0, o, o + 192);
  forEachQuarter((i, ql, shiftL, qh, shiftH) => {
    for (let l = 0; l < 32; l++) {
      out[o + ql + l] |= (L[i + l]! & 0x0f) << shiftL;
      out[o + qh + l] |= (L[i + l]! >> 4) << shiftH;
    }
  });
}

export const q6_k: BlockFormat = { ...layout, dequantizeRow, quantizeRow };
