import type { Ops } from '../backend/ops.js';

/**
 * The backend's measured mat-mul peak (FLOP/s): the best of 20 (512 x 512) x (512 x 512) products, the size where
 * our CPU kernels run fastest (a GPU wants larger ones). MFU is reported against this, the machine's practical limit
 * for our kernels. Each product is waited for by reading one number made from it, not the product itself: copying
 * a GPU's result to the host would take longer than computing it. On a VM whose second core is shared, the
 * machine's speed drifts, so MFU can drift past 100% when the start was slow.
 */
export async function measurePeakFlops(ops: Ops, size = 512, repeats = 20): Promise<number> {
  const x = ops.fromHost(new Float32Array(size * size).fill(0.5), [size, size]);
  const w = ops.fromHost(new Float32Array(size * size).fill(0.25), [size, size]);
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    const y = ops.linear(x, w);
    const done = ops.sumSquares(y);
    await ops.read(done);
    best = Math.min(best, (performance.now() - start) / 1000);
    ops.release(y);
    ops.release(done);
  }
  ops.release(x);
  ops.release(w);
  return (2 * size ** 3) / best;
}
