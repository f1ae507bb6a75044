import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../core/rng.js';
import { rope } from './rope.js';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

test('rope: q.k depends only on the distance between positions, and norms are kept', () => {
  const rng = new Rng(11);
  const Dh = 10;
  const invFreq = Float32Array.from({ length: Dh / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / Dh));
  const q = Float32Array.from({ length: Dh }, () => rng.nextNormal());
  const k = Float32Array.from({ length: Dh }, () => rng.nextNormal());
  const at = (x: Float32Array, pos: number) => {
    const out = new Float32Array(Dh);
    rope(out, x, invFreq, 1, 1, 1, Dh, pos);
    return out;
  };
  const base = dot(at(q, 7), at(k, 3));
  for (const shift of [1, 20, 123]) assert.ok(Math.abs(dot(at(q, 7 + shift), at(k, 3 + shift)) - base) < 1e-4);
  assert.ok(Math.abs(dot(at(q, 7), at(q, 7)) - dot(q, q)) < 1e-4);
  assert.ok(Math.abs(dot(at(q, 7), at(k, 3)) - dot(at(q, 8), at(k, 3))) > 1e-3, 'the angle must change with position');
});

test('rope rotates interleaved pairs by pos * invFreq[i]', () => {
  const invFreq = Float32Array.of(0.5, 0.25);
  const x = Float32Array.of(1, 0, 0, 1); // pair 0 = (1, 0), pair 1 = (0, 1)
  const out = new Float32Array(4);
  rope(out, x, invFreq, 1, 1, 1, 4, 2); // angles 1.0 and 0.5
  const want = [Math.cos(1), Math.sin(1), -Math.sin(0.5), Math.cos(0.5)];
  want.forEach((w, i) => assert.ok(Math.abs(out[i]! - w) < 1e-6, `element ${i}`));
});
