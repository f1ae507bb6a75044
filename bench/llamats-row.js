// One benchmark row for llamats, in its own process so that its peak memory is its own:
// node bench/llamats-row.js MODEL THREADS PREFILL DECODE RUNS [BACKEND] [ops]  ->  one JSON line on stdout.
// `ops` runs every decode step op by op, without the backend's step loop (for comparison).
import { Decoder, argmax, loadModel } from '../dist/index.js';

const [modelPath, threads, prefill, decode, runs, backend = 'cpu', mode] = process.argv.slice(2);
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
  const decoder = new Decoder(model, P + D, { stepLoop: mode !== 'ops' });
  let t = performance.now();
  const logits = await decoder.next(prompt);
  const prefillSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  let id = argmax(logits);
  for (let i = 0; i < D; i++) id = await decoder.nextGreedy([id]);
  const decodeSeconds = (performance.now() - t) / 1000;
  decoder.dispose();
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
