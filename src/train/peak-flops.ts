import type { Ops } from '../backend/ops.js';

/**
 * The backend's measured mat-mul peak (FLOP/s): (size x size) x (size x size) products, `repeats` of them queued
 * and waited for once (a GPU's round trip to the host takes longer than one product), the best of at least `rounds`
 * such rounds, and of as many more as fit in `minSeconds`, after one product to warm up. The size starts at 512,
 * where our CPU kernels run fastest, and doubles (up to maxSize) while the best round's products take under 2 ms
 * each: a GPU wants larger ones (at 2048, an H100's tensor cores measured 20 TFLOP/s, a fifth of their speed at
 * 4096, and MFU read 210%; a first round alone, slow while the GPU wakes, stopped the growth at 512).
 * A GPU's rounds vary: on an H100, mixed precision's 4096^3 rounds of 10 in one process read 40, then 52 four times,
 * then 76-80 TFLOP/s, and four whole probes in a row 136, 75, 62 and 58. Hence a second of rounds there (train-
 * command.ts), and MFU on a GPU can still read high when the probe caught a slow spell.
 * MFU is reported against this, the machine's practical limit for our kernels (with mixed precision, for f16
 * products).
 * Each round is waited for by reading one number made from its last product, not the product itself. On a VM whose
 * second core is shared, the machine's speed drifts, so MFU can drift past 100% when the start was slow.
 */
export async function measurePeakFlops(ops: Ops, maxSize = 512, repeats = 7, rounds = 3, minSeconds = 0): Promise<number> {
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
    const start = performance.now();
    let best = Infinity;
    for (let round = 0; round < rounds; round++) best = Math.min(best, await time(repeats));
    const last = size >= maxSize || best >= 2e-3;
    while (last && performance.now() - start < minSeconds * 1000) best = Math.min(best, await time(repeats));
    ops.release(x);
    ops.release(w);
    if (last) return (2 * size ** 3) / best;
  }
}
