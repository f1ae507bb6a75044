import type { Ops } from '../backend/ops.js';

/**
 * The backend's measured mat-mul peak (FLOP/s): (size x size) x (size x size) products, `repeats` of them queued
 * and waited for once (a GPU's round trip to the host takes longer than one product), the best of `rounds` such
 * rounds after one product to warm up. The size starts at 512, where our CPU kernels run fastest, and doubles (up to
 * maxSize) while the best round's products take under 2 ms each: a GPU wants larger ones (at 2048, an H100's
 * tensor cores measured 20 TFLOP/s, a fifth of their speed at 4096, and MFU read 210%; a first round alone, slow
 * while the GPU wakes, stopped the growth at 512).
 * MFU is reported against this, the machine's practical limit for our kernels (with mixed precision, for f16
 * products).
 * Each round is waited for by reading one number made from its last product, not the product itself. On a VM whose
 * second core is shared, the machine's speed drifts, so MFU can drift past 100% when the start was slow.
 */
export async function measurePeakFlops(ops: Ops, maxSize = 512, repeats = 7, rounds = 3): Promise<number> {
  for (let size = 512; ; size *= 2) {
    const x = ops.fromHost(new Float32Array(size * size).fill(0.5), [size, size]);
    const w = ops.fromHost(new Float32Array(size * size).fill(0.25), [size, size]);
    /** Seconds per product of `count` queued ones. */
    const time = async (count: number) => {
      const start = performance.now();
      for (let r = 0; r < count; r++) {
        const y = ops.linear(x, w);
        if (r === count - 1) {
          const done = ops.sumSquares(y);
          await ops.read(done);
          ops.release(done);
        }
        ops.release(y);
      }
      return (performance.now() - start) / 1000 / count;
    };
    await time(1); // compiles a GPU's kernels, grows a pool
    let best = Infinity;
    for (let round = 0; round < rounds; round++) best = Math.min(best, await time(repeats));
    ops.release(x);
    ops.release(w);
    if (size >= maxSize || best >= 2e-3) return (2 * size ** 3) / best;
  }
}
