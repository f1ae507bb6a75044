// One benchmark row for llamats, in its own process so that its peak memory is its own:
// node bench/llamats-row.js MODEL THREADS PREFILL DECODE RUNS [BACKEND]  ->  one JSON line on stdout.
import { KvCache, argmax, forward, loadModel } from '../dist/index.js';

const [modelPath, threads, prefill, decode, runs, backend = 'cpu'] = process.argv.slice(2);
const P = Number(prefill);
const D = Number(decode);
const loadStart = performance.now();
const model = await loadModel(modelPath, { backend, threads: Number(threads) });
const loadSeconds = (performance.now() - loadStart) / 1000;
const { ops, config } = model;
// A fixed pseudo-random prompt: the same ids the peer is given (bench/prompt.js).
const { promptIds } = await import('./prompt.js');
const prompt = promptIds(config.vocabSize, P);

async function once() {
  const cache = new KvCache(ops, config, 1, P + D);
  let t = performance.now();
  let logits = await ops.read(forward(model, ops.fromHost(Int32Array.from(prompt), [1, P]), { cache, lastOnly: true }));
  const prefillSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < D; i++) {
    logits = await ops.read(forward(model, ops.fromHost(Int32Array.of(argmax(logits)), [1, 1]), { cache, lastOnly: true }));
  }
  const decodeSeconds = (performance.now() - t) / 1000;
  cache.dispose();
  return { prefill: P / prefillSeconds, decode: D / decodeSeconds };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await once(); // warm-up: first-touch of weights, JIT, heap growth
const rows = [];
for (let i = 0; i < Number(runs); i++) rows.push(await once());
ops.dispose();
console.log(JSON.stringify({
  prefill: median(rows.map((r) => r.prefill)), decode: median(rows.map((r) => r.decode)),
  loadSeconds, maxRssMB: process.resourceUsage().maxRSS / 1024,
}));
