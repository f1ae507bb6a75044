import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../core/errors.js';
import { CpuBackend } from './cpu-backend.js';
import { checkDropout, dropout, hash32 } from './dropout.js';

test('hash32 is lowbias32: 0 maps to 0, and consecutive inputs give well-spread outputs', () => {
  assert.equal(hash32(0), 0);
  // Each output bit is set in about half of 2^16 consecutive inputs (binomial: within 4 sigma = 512 of 32768).
  const ones = new Array<number>(32).fill(0);
  for (let i = 1; i <= 1 << 16; i++) for (let b = 0; b < 32; b++) ones[b]! += (hash32(i) >>> b) & 1;
  for (const count of ones) assert.ok(Math.abs(count - 32768) < 512, `bit set ${count} times of 65536`);
});

test('dropout keeps a 1 - p share of elements, scaled by 1 / (1 - p); p = 0 is the identity; seeds differ', () => {
  const n = 100_000;
  const x = new Float32Array(n).fill(1);
  for (const p of [0.1, 0.5, 0.9]) {
    const out = new Float32Array(n);
    dropout(out, x, p, 42);
    const kept = out.filter((v) => v !== 0);
    const sigma = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(kept.length - n * (1 - p)) < 5 * sigma, `p=${p}: kept ${kept.length}`);
    assert.ok(kept.every((v) => v === Math.fround(1 / (1 - p))));
  }
  const same = new Float32Array(n);
  dropout(same, x, 0, 1);
  assert.deepEqual(same, x);
  const [a, b] = [new Float32Array(n), new Float32Array(n)];
  dropout(a, x, 0.5, 1);
  dropout(b, x, 0.5, 2);
  assert.notDeepEqual(a, b);
});

test('a dropout rate outside [0, 1) or a fractional seed is an ArgumentError', () => {
  for (const [p, seed] of [[1, 0], [-0.1, 0], [NaN, 0], [0.5, 1.5]] as const) {
    assert.throws(() => checkDropout(p, seed), ArgumentError);
  }
  const ops = new CpuBackend();
  assert.throws(() => ops.dropout(ops.fromHost(new Float32Array(2), [2]), 1, 0), /dropout rate: expected a number in \[0, 1\), found 1/);
});
