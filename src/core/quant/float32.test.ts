import assert from 'node:assert/strict';
import { test } from 'node:test';
import { int8, nearestInt, nearestSmallInt, readHalf, roundHalfAway, writeHalf } from './float32.js';

test('nearestInt rounds ties to even, like ggml nearest_int', () => {
  const cases: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [-0.5, 0], [-1.5, -2], [-2.5, -2], [2.4999998, 2], [-7.5, -8], [4194302.5, 4194302]];
  for (const [v, want] of cases) assert.equal(nearestInt(Math.fround(v)), want, String(v));
  assert.ok(Object.is(nearestInt(-0.25), 0), 'no negative zero');
});

test('nearestSmallInt agrees with nearestInt below 2^22 in magnitude, and on ±Infinity and NaN', () => {
  const values = [0, -0, 0.5, 1.5, 2.5, -2.5, 15.5, 16.5, -32.5, 31.5, 2.4999998, 1e-30, -1e-45, 4194302.5, -4194303.5];
  for (let i = 0; i < 10000; i++) values.push(Math.fround((i - 5000) / 64), Math.fround(((i * 0.6180339887) % 1 - 0.5) * 70));
  for (const v of [...values, Infinity, -Infinity, NaN]) assert.equal(nearestSmallInt(Math.fround(v)), nearestInt(Math.fround(v)), String(v));
  assert.ok(Object.is(nearestSmallInt(-0.25), 0), 'no negative zero');
});

test('roundHalfAway rounds ties away from zero, like C roundf', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -2.5, 126.49999].map(roundHalfAway), [1, 2, 3, -1, -3, 126]);
});

test('int8 and the f16 fields', () => {
  assert.deepEqual([0, 127, 128, 255].map(int8), [0, 127, -128, -1]);
  const b = new Uint8Array(4);
  writeHalf(b, 1, -0.5);
  assert.deepEqual([...b], [0, 0x00, 0xb8, 0]);
  assert.equal(readHalf(b, 1), -0.5);
  writeHalf(b, 0, 1 + 2 ** -11); // a tie between 1 and 1 + 2^-10: to even
  assert.equal(readHalf(b, 0), 1);
});
