import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kernelModule } from './kernels.js';

test('the relaxed-SIMD build is picked on this runtime (its integer dot passes the start-up check), the SIMD128 build on request', () => {
  const relaxed = kernelModule(true);
  const simd128 = kernelModule(false);
  assert.notEqual(relaxed, simd128);
  assert.equal(kernelModule(true), relaxed, 'compiled once per process');
});
