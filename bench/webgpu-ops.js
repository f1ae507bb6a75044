// `node bench/webgpu-ops.js [quick]`: the GPU time of each training op at the 134M model's sizes (B 16, T 1024, dim 768,
// ffn 2048, vocab 32000, 12 heads; `quick`: tiny sizes), best of 3, each ended by a submit and a wait.
import { WebGpuBackend } from '../dist/backend/webgpu/webgpu-backend.js';
const ops = await WebGpuBackend.create();
const quick = process.argv[2] === 'quick';
const [B, T, D, F, V, H] = quick ? [1, 64, 64, 128, 512, 4] : [16, 1024, 768, 2048, 32000, 12];
const N = B * T, Dh = D / H;
const rnd = (shape) => ops.fromHost(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() - 0.5), shape);
const x = rnd([N, D]), w1 = rnd([F, D]), h = rnd([N, F]), q = rnd([B, T, H, Dh]), wv = rnd([V, D]), norm = rnd([D]);
const targets = ops.fromHost(Int32Array.from({ length: N }, (_, i) => i % V), [N]);
const cases = {
  'linear x(N,D) w(F,D)': () => ops.linear(x, w1),
  'linearBackward dy(N,F)': () => ops.linearBackward(h, x, w1).dw,
  'attention': () => ops.attention(q, q, q, 0),
  'attentionBackward': () => ops.attentionBackward(q, q, q, q).dk,
  'crossEntropy+grads': () => ops.crossEntropy(x, wv, targets, 1 / N).dw,
  'rmsnormBackward': () => ops.rmsnormBackward(x, x, norm, 1e-5).dweight,
  'embeddingBackward': () => ops.embeddingBackward(x, targets, V),
  'swigluBackward': () => ops.swigluBackward(h, h, h).dgate,
};
for (const [name, f] of Object.entries(cases)) {
  ops.release(f()); await ops.read(x);
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    const y = f();
    ops.gpu.flush();
    await ops.gpu.device.queue.onSubmittedWorkDone();
    best = Math.min(best, performance.now() - t);
    ops.release(y);
  }
  console.log(`${name}: ${best.toFixed(2)} ms`);
}
ops.dispose();

// The mat-mul kernel alone, ten products per submit (so the submit and wait do not count), in each layout.
{
  const { matmul } = await import('../dist/backend/webgpu/kernels/matmul.js');
  const gpu = (await WebGpuBackend.create()).gpu;
  const sizes = quick ? [[128, 64, 128]] : [[4096, 4096, 4096], [N, D, F]];
  for (const [m, k, n] of sizes) {
    const a = gpu.alloc(m * k * 4), b = gpu.alloc(k * n * 4), out = gpu.alloc(m * n * 4);
    for (const layout of ['NT', 'NN', 'TN']) {
      matmul(gpu, out, a, b, m, k, n, layout);
      gpu.flush();
      await gpu.device.queue.onSubmittedWorkDone();
      const t = performance.now();
      for (let r = 0; r < 10; r++) matmul(gpu, out, a, b, m, k, n, layout);
      gpu.flush();
      await gpu.device.queue.onSubmittedWorkDone();
      const ms = (performance.now() - t) / 10;
      console.log(`matmul ${layout} ${m}x${k}x${n}: ${ms.toFixed(2)} ms, ${((2 * m * k * n) / ms / 1e9).toFixed(1)} TFLOP/s`);
    }
    for (const buffer of [a, b, out]) gpu.free(buffer);
  }
  gpu.destroy();
}
