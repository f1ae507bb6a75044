// `node bench/webgpu-decode.js MODEL [TOKENS]`: where the time of a batch-1 decode token goes on the GPU backend.
// Greedy decode of TOKENS tokens (default 100) after a warm-up, with the device layer's calls counted and timed:
// recording the token (host; the GPU runs behind it, from the first submit on), the dispatches and submits within
// it, the bind groups made (the rest come from the cache), and the whole token including the logits' read-back.
// When recording takes most of the token, decode is bound by the host's cost per dispatch, not by the GPU.
import { argmax, forward, KvCache, loadModel } from '../dist/index.js';

const [modelPath, tokens = '100'] = process.argv.slice(2);
if (!modelPath) throw new Error('usage: node bench/webgpu-decode.js MODEL [TOKENS]');
const model = await loadModel(modelPath, { backend: 'webgpu' });
const { ops, config } = model;
const N = Number(tokens);

// Count and time a method of obj (calls made inside another counted call are counted in both).
const counters = {};
function count(obj, method, label) {
  const original = obj[method].bind(obj);
  const c = (counters[label] = { calls: 0, ms: 0 });
  obj[method] = (...args) => {
    const start = performance.now();
    try {
      return original(...args);
    } finally {
      c.calls++;
      c.ms += performance.now() - start;
    }
  };
}
count(ops.gpu, 'dispatch', 'dispatches');
count(ops.gpu, 'flush', 'submits');
count(ops.gpu.device, 'createBindGroup', 'bind groups made');

const cache = new KvCache(ops, config, 1, N + 16);
const step = async (id) => {
  const start = performance.now();
  const out = forward(model, ops.fromHost(Int32Array.of(id), [1, 1]), { cache, lastOnly: true });
  const recorded = performance.now();
  const logits = await ops.read(out);
  ops.release(out);
  return { id: argmax(logits), record: recorded - start, total: performance.now() - start };
};
let { id } = await step(1);
for (let i = 0; i < 5; i++) ({ id } = await step(id));
for (const c of Object.values(counters)) Object.assign(c, { calls: 0, ms: 0 });
let record = 0;
let total = 0;
for (let i = 0; i < N; i++) {
  const r = await step(id);
  ({ id } = r);
  record += r.record;
  total += r.total;
}
console.log(`${modelPath} on ${ops.device}, ${N} tokens`);
console.log(`token: ${(total / N).toFixed(3)} ms (${((1000 * N) / total).toFixed(1)} tokens/s), of which recording ${(record / N).toFixed(3)} ms`);
for (const [label, c] of Object.entries(counters)) {
  console.log(`${label}: ${(c.calls / N).toFixed(1)} a token, ${((1000 * c.ms) / Math.max(1, c.calls)).toFixed(2)} us each`);
}
cache.dispose();
ops.dispose();
