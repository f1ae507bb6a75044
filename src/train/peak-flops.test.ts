import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuBackend } from '../backend/cpu/cpu-backend.js';
import type { Ops } from '../backend/ops.js';
import { measurePeakFlops } from './peak-flops.js';

/** The CPU reference backend, counting its products by size. */
function countingOps(): { ops: Ops; products: Map<number, number> } {
  const ops = new CpuBackend();
  const products = new Map<number, number>();
  const linear = ops.linear.bind(ops);
  ops.linear = (x, w) => {
    products.set(x.shape[0]!, (products.get(x.shape[0]!) ?? 0) + 1);
    return linear(x, w);
  };
  return { ops, products };
}

test('measurePeakFlops: the warm-up and the given rounds at each size, then rounds for minSeconds at the last', async () => {
  const { ops, products } = countingOps();
  const start = performance.now();
  const peak = await measurePeakFlops(ops, 512, 1, 1, 1);
  assert.ok(performance.now() - start >= 1000);
  assert.ok(Number.isFinite(peak) && peak > 0);
  // 512 is the last size: more than the 1 + 1 products that the round alone would make (one takes about 0.2 s).
  assert.ok(products.get(512)! > 2, `${products.get(512)} products`);
  assert.deepEqual([...products.keys()], [512]);
});

test('measurePeakFlops: without minSeconds, exactly the warm-up and the rounds', async () => {
  const { ops, products } = countingOps();
  await measurePeakFlops(ops, 512, 2, 3);
  assert.deepEqual([...products], [[512, 7]]);
});
