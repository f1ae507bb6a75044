import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../core/rng.js';
import { attention } from './attention.js';
import { dropoutParams, hash32, type DropoutParams } from './dropout.js';

function randn(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.nextNormal());
}

/**
 * The textbook form: materialise each query's scores, mask, softmax, weighted sum of values; with dropout, each
 * probability (b, h, t, s) kept when hash32(((b H + h) T + t) S + s + seedHash) >= threshold, times the scale.
 */
function naiveAttention(
  q: Float32Array, k: Float32Array, v: Float32Array,
  B: number, T: number, H: number, Hkv: number, Dh: number, S: number, start: number, drop?: DropoutParams,
): Float32Array {
  const out = new Float32Array(B * T * H * Dh);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
    const kvh = Math.floor(h / (H / Hkv));
    const qi = ((b * T + t) * H + h) * Dh;
    const scores: number[] = [];
    for (let s = 0; s <= start + t; s++) {
      let dot = 0;
      for (let d = 0; d < Dh; d++) dot += q[qi + d]! * k[((b * S + s) * Hkv + kvh) * Dh + d]!;
      scores.push(dot / Math.sqrt(Dh));
    }
    const max = Math.max(...scores);
    const e = scores.map((x) => Math.exp(x - max));
    const sum = e.reduce((a, c) => a + c, 0);
    const keep = (s: number) => !drop || hash32(((b * H + h) * T + t) * S + s + drop.seedHash) >= drop.threshold;
    const factor = drop?.scale ?? 1;
    for (let d = 0; d < Dh; d++) {
      let acc = 0;
      e.forEach((w, s) => (acc += keep(s) ? (w / sum) * factor * v[((b * S + s) * Hkv + kvh) * Dh + d]! : 0));
      out[qi + d] = acc;
    }
  }
  return out;
}

test('online-softmax attention equals materialised softmax attention (GQA, cache offsets, awkward sizes)', () => {
  const rng = new Rng(7);
  // [B, T, H, Hkv, Dh, S, startPos]: prefill, one decode step mid-cache, MQA, odd sizes
  const cases = [[1, 1, 1, 1, 2, 1, 0], [2, 7, 6, 3, 10, 7, 0], [1, 1, 8, 2, 6, 19, 13], [3, 5, 4, 1, 14, 11, 4], [1, 33, 3, 3, 8, 40, 2]];
  for (const [B, T, H, Hkv, Dh, S, start] of cases as number[][]) {
    const q = randn(rng, B! * T! * H! * Dh!);
    const k = randn(rng, B! * S! * Hkv! * Dh!).map((x) => 3 * x); // large scores stress the running max
    const v = randn(rng, B! * S! * Hkv! * Dh!);
    const out = new Float32Array(q.length);
    attention(out, q, k, v, B!, T!, H!, Hkv!, Dh!, S!, start!);
    const want = naiveAttention(q, k, v, B!, T!, H!, Hkv!, Dh!, S!, start!);
    // Both accumulate in f64 and round once to f32: agreement to a few f32 ulps.
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - want[i]!) < 1e-5, `case ${[B, T, H, Hkv, Dh, S, start]} index ${i}`);
  }
});

test('attention with dropout drops each probability by its own mask element, after the softmax', () => {
  const rng = new Rng(11);
  for (const [B, T, H, Hkv, Dh, S, start] of [[2, 7, 6, 3, 10, 7, 0], [1, 5, 4, 2, 8, 11, 6]]) {
    const q = randn(rng, B! * T! * H! * Dh!);
    const k = randn(rng, B! * S! * Hkv! * Dh!);
    const v = randn(rng, B! * S! * Hkv! * Dh!);
    const drop = dropoutParams(0.4, 9);
    const out = new Float32Array(q.length);
    attention(out, q, k, v, B!, T!, H!, Hkv!, Dh!, S!, start!, drop);
    const want = naiveAttention(q, k, v, B!, T!, H!, Hkv!, Dh!, S!, start!, drop);
    for (let i = 0; i < out.length; i++) assert.ok(Math.abs(out[i]! - want[i]!) < 1e-5, `case ${[B, T, H, Hkv, Dh, S, start]} index ${i}`);
    const plain = naiveAttention(q, k, v, B!, T!, H!, Hkv!, Dh!, S!, start!);
    assert.ok(out.some((x, i) => Math.abs(x - plain[i]!) > 1e-3), 'the dropout changes the output');
  }
});

test('attention ignores cache rows past the causal horizon', () => {
  const rng = new Rng(3);
  const [B, T, H, Dh, S] = [1, 2, 2, 4, 6];
  const q = randn(rng, B * T * H * Dh);
  const k = randn(rng, B * S * H * Dh);
  const v = randn(rng, B * S * H * Dh);
  const a = new Float32Array(q.length);
  attention(a, q, k, v, B, T, H, H, Dh, S, 1); // sees rows 0..2
  k.fill(1e6, 3 * H * Dh); // rows 3.. are garbage
  v.fill(NaN, 3 * H * Dh);
  const b = new Float32Array(q.length);
  attention(b, q, k, v, B, T, H, H, Dh, S, 1);
  assert.deepEqual(b, a);
});
