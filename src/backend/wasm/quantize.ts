/**
 * Whole tensors quantized to Q4_K or Q6_K on the WASM kernels (assembly/quantize.ts): byte for byte what the
 * reference quantizers in src/core/quant give, with native f32 arithmetic instead of Math.fround on doubles, and
 * the blocks split over the backend's threads.
 */
import { blockCount, type KQuantType, type TensorQuantizer } from '../../core/quant/block-format.js';
import { blockFormats } from '../../core/quant/index.js';
import { WasmBackend } from './wasm-backend.js';

const kernels: Record<KQuantType, string> = { q4_k: 'quantizeQ4_K', q6_k: 'quantizeQ6_K' };
/** Per-thread scratch of the kernels (QUANTIZE_SCRATCH in assembly/quantize.ts). */
const SCRATCH_BYTES = 2048;
/** Blocks copied into the heap per pass: 4 MiB of f32, so a tensor of any size needs only this much heap. */
const CHUNK_BLOCKS = 4096;

/** `x` (a whole number of 256-value blocks) quantized to `type` on `backend`'s threads. */
export function quantizeOnWasm(backend: WasmBackend, type: KQuantType, x: Float32Array): Uint8Array {
  const format = blockFormats[type];
  const { blockElems, blockBytes } = format;
  const blocks = blockCount(format, x.length, (x.length / blockElems) * blockBytes, 'quantizeOnWasm');
  const out = new Uint8Array(blocks * blockBytes);
  const chunk = Math.min(blocks, CHUNK_BLOCKS);
  const { heap } = backend;
  const input = heap.alloc(chunk * blockElems * 4);
  const output = heap.alloc(chunk * blockBytes);
  const scratch = heap.alloc(backend.threads * SCRATCH_BYTES);
  try {
    for (let b = 0; b < blocks; b += chunk) {
      const n = Math.min(chunk, blocks - b);
      heap.f32(input, n * blockElems).set(x.subarray(b * blockElems, (b + n) * blockElems));
      backend.runKernels([{ kernel: kernels[type], args: [input, output, scratch, 0, 0, 0], thread: 3, range: 4, total: n }]);
      out.set(heap.u8(output, n * blockBytes), b * blockBytes);
    }
  } finally {
    heap.release(input, chunk * blockElems * 4);
    heap.release(output, chunk * blockBytes);
    heap.release(scratch, backend.threads * SCRATCH_BYTES);
  }
  return out;
}

/** Runs `fn` with a TensorQuantizer on the WASM kernels over all cores, whose threads end when it returns. */
export async function withWasmQuantizer<T>(fn: (quantize: TensorQuantizer) => T): Promise<T> {
  const backend = await WasmBackend.create();
  try {
    return fn((type, x) => quantizeOnWasm(backend, type, x));
  } finally {
    backend.dispose();
  }
}
