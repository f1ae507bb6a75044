// `node bench/webgpu-attention.js [B,T,H,HKV,DH]`: mixed-precision attention of one layer at the 134M model's sizes
// (default 16,1024,12,12,64), through the tensor-core flash kernels and through the score matrix: how far apart
// their outputs and gradients are, then ms a layer for the forward and for forward + backward, best of 2 rounds of
// 10 after a warm-up round. Needs a GPU with tensor cores (subgroup matrices); elsewhere both rows take the same path.
import { WebGpuBackend } from '../dist/backend/webgpu/webgpu-backend.js';
import { flashAttentionSwitch } from '../dist/backend/webgpu/kernels/attention.js';

const ops = await WebGpuBackend.create('mixed');
const [B, T, H, HKV, D] = (process.argv[2] ?? '16,1024,12,12,64').split(',').map(Number);
let seed = 1;
const rand = (n) => Float32Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1);
const q = ops.fromHost(rand(B * T * H * D), [B, T, H, D]);
const k = ops.fromHost(rand(B * T * HKV * D), [B, T, HKV, D]);
const v = ops.fromHost(rand(B * T * HKV * D), [B, T, HKV, D]);
const dy = ops.fromHost(rand(B * T * H * D), [B, T, H, D]);
const step = (backward) => ops.tidy(() => {
  const y = ops.attention(q, k, v, 0);
  if (!backward) return [y];
  const { dq, dk, dv } = ops.attentionBackward(dy, q, k, v, undefined, y);
  return [y, dq, dk, dv];
});

const results = {};
for (const flash of [true, false]) {
  flashAttentionSwitch.on = flash;
  const outs = step(true);
  results[flash] = await Promise.all(outs.map((t) => ops.read(t)));
  outs.forEach((t) => ops.release(t));
}
['out', 'dq', 'dk', 'dv'].forEach((name, i) => {
  const [a, b] = [results[true][i], results[false][i]];
  let worst = 0, scale = 0, bad = 0;
  for (let j = 0; j < a.length; j++) {
    if (!Number.isFinite(a[j])) bad++;
    worst = Math.max(worst, Math.abs(a[j] - b[j]));
    scale = Math.max(scale, Math.abs(b[j]));
  }
  console.log(`${name}: max |flash - score matrix| ${worst.toExponential(2)}, max |score matrix| ${scale.toExponential(2)}, non-finite ${bad}`);
});
for (const backward of [false, true]) {
  for (const flash of [true, false]) {
    flashAttentionSwitch.on = flash;
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      await ops.gpu.device.queue.onSubmittedWorkDone();
      const start = performance.now();
      for (let i = 0; i < 10; i++) step(backward).forEach((t) => ops.release(t));
      ops.gpu.flush();
      await ops.gpu.device.queue.onSubmittedWorkDone();
      if (round > 0) best = Math.min(best, (performance.now() - start) / 10);
    }
    console.log(`${backward ? 'forward + backward' : 'forward'}, ${flash ? 'flash' : 'score matrix'}: ${best.toFixed(2)} ms a layer`);
  }
}
ops.dispose();
