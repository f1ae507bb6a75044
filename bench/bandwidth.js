// The machine's read bandwidth as WASM SIMD sees it: sum 1 GiB of f32 (far past the L3) split over THREADS
// threads with the same pool the backend uses; best of several passes. node bench/bandwidth.js THREADS
import { WasmBackend } from '../dist/backend/wasm/wasm-backend.js';

const threads = Number(process.argv[2] ?? 1);
const backend = await WasmBackend.create({ threads });
const ROW = 1 << 16; // floats per row
const ROWS = (1 << 28) / ROW; // 2^28 floats = 1 GiB
const src = backend.heap.alloc(ROWS * ROW * 4);
const out = backend.heap.alloc(ROWS * 4);
for (let r = 0; r < ROWS; r++) backend.heap.f32(src + r * ROW * 4, ROW).fill(1);
let best = Infinity;
for (let pass = 0; pass < 5; pass++) {
  const t = performance.now();
  backend.runKernels([{ kernel: 'sumRows', args: [out, src, ROW, 0, 0], range: 3, total: ROWS }]);
  best = Math.min(best, (performance.now() - t) / 1000);
}
backend.dispose();
console.log(JSON.stringify({ threads, gbPerSecond: (ROWS * ROW * 4) / best / 1e9 }));
