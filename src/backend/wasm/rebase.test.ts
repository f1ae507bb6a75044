import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { f16ToF32 } from '../../core/dtype.js';
import type { KernelCall } from './pool.js';
import { WasmBackend } from './wasm-backend.js';

// The f16 rebase at load (assembly/rebase.ts): every half under 64 in magnitude becomes exactly its value times
// 2^10 and none is left subnormal; a tensor holding a half of 64 or more (or an inf) is flagged. Both builds.
const backends = await Promise.all([WasmBackend.create({ threads: 2 }), WasmBackend.create({ threads: 2, relaxed: false })]);
after(() => backends.forEach((b) => b.dispose()));

/** Rebase `halves` with the kernel on 2 threads; the rebased halves and the overflow flag. */
function rebase(backend: WasmBackend, halves: Uint16Array): { out: Uint16Array; overflow: number } {
  const bytes = halves.byteLength + 8;
  const p = backend.heap.alloc(bytes);
  new Uint16Array(backend.heap.memory.buffer, p, halves.length).set(halves);
  const flag = p + Math.ceil(halves.byteLength / 4) * 4;
  backend.heap.i32(flag, 1)[0] = 0;
  const call: KernelCall = { kernel: 'rebaseF16', args: [p, flag, 0, 0], range: 2, total: halves.length };
  backend.runKernels([call]);
  const result = { out: new Uint16Array(backend.heap.memory.buffer, p, halves.length).slice(), overflow: backend.heap.i32(flag, 1)[0]! };
  backend.heap.release(p, bytes);
  return result;
}

test('every f16 value under 64 in magnitude, zeros and subnormals included, rebases to exactly 1024 times itself', () => {
  // All halves with exponent field 0..20, both signs; an odd count, so that the kernel's scalar tail runs too.
  const halves = Uint16Array.from({ length: 2 * 21 * 1024 + 1 }, (_, i) => (i >= 21 * 1024 ? 0x8000 : 0) | (i % (21 * 1024)));
  for (const backend of backends) {
    const { out, overflow } = rebase(backend, halves);
    assert.equal(overflow, 0);
    halves.forEach((h, i) => {
      assert.equal(f16ToF32(out[i]!), 1024 * f16ToF32(h), `half 0x${h.toString(16)}`);
      if (h & 0x7fff) assert.notEqual(out[i]! & 0x7c00, 0, `half 0x${h.toString(16)} is left subnormal`);
    });
  }
});

test('a half of 64 or more, or an inf, flags the tensor; 63.97 does not', () => {
  for (const backend of backends) {
    for (const [big, flagged] of [[0x53ff, 0], [0x5400, 1], [0xd400, 1], [0x7bff, 1], [0x7c00, 1]] as const) {
      // 4001 halves: the pool's chunks of 504 run 8-wide steps, and the last half is in a scalar tail.
      for (const at of [0, 1234, 4000]) {
        const halves = new Uint16Array(4001).fill(0x3c00);
        halves[at] = big;
        assert.equal(rebase(backend, halves).overflow, flagged, `0x${big.toString(16)} at ${at}`);
      }
    }
  }
});
