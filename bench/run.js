// `npm run bench`: decode and prefill tokens/s of llamats and, in the same run on the same GGUF, of llama.cpp
// through node-llama-cpp (its prebuilt CPU binaries). Medians of several runs after a warm-up; the ratio per row.
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KvCache, argmax, forward, loadModel, loadTokenizer } from '../dist/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const modelPath = join(root, 'test/fixtures/stories260K/stories260K.gguf');
const PREFILL = 128;
const DECODE = 128;
const RUNS = 5;
const THREADS = 1; // our reference kernels are single-threaded; the peer gets the same

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A prompt of exactly PREFILL tokens (with BOS) from a fixed story text. */
function promptIds(tokenizer) {
  const story = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. ';
  const ids = tokenizer.encode(story.repeat(20), { bos: true });
  return ids.slice(0, PREFILL);
}

async function benchLlamats(prompt) {
  const model = await loadModel(modelPath);
  const { ops } = model;
  const run = async () => {
    const cache = new KvCache(ops, model.config, 1, PREFILL + DECODE);
    let t = performance.now();
    let logits = await ops.read(forward(model, ops.fromHost(Int32Array.from(prompt), [1, PREFILL]), { cache, lastOnly: true }));
    const prefill = (performance.now() - t) / 1000;
    t = performance.now();
    for (let i = 0; i < DECODE; i++) {
      const next = argmax(logits);
      logits = await ops.read(forward(model, ops.fromHost(Int32Array.of(next), [1, 1]), { cache, lastOnly: true }));
    }
    return { prefill: PREFILL / prefill, decode: DECODE / ((performance.now() - t) / 1000) };
  };
  return measure(run);
}

async function benchLlamaCpp(prompt) {
  process.env.OMP_WAIT_POLICY ??= 'passive'; // llama.cpp's default OpenMP spinning collapses on a shared VM
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath });
  const context = await model.createContext({ contextSize: PREFILL + DECODE + 8, threads: THREADS, batchSize: PREFILL });
  const sequence = context.getSequence();
  const run = async () => {
    await sequence.clearHistory();
    let t = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const prefill = (performance.now() - t) / 1000;
    t = performance.now();
    let n = 0;
    for await (const _ of sequence.evaluate([prompt[prompt.length - 1]], { temperature: 0 })) if (++n >= DECODE) break;
    return { prefill: PREFILL / prefill, decode: n / ((performance.now() - t) / 1000) };
  };
  try {
    return await measure(run);
  } finally {
    await context.dispose();
    await model.dispose();
  }
}

async function measure(run) {
  await run(); // warm-up
  const rows = [];
  for (let i = 0; i < RUNS; i++) rows.push(await run());
  return { prefill: median(rows.map((r) => r.prefill)), decode: median(rows.map((r) => r.decode)) };
}

const tokenizer = loadTokenizer(modelPath);
const prompt = promptIds(tokenizer);
const ours = await benchLlamats(prompt);
let peer = null;
try {
  peer = await benchLlamaCpp(prompt);
} catch (e) {
  console.error(`node-llama-cpp unavailable (${e.message}); reporting llamats alone`);
}
const rows = ['prefill', 'decode'].map((k) => ({
  metric: `${k} tokens/s (stories260K F32, ${k === 'prefill' ? PREFILL + ' tokens' : DECODE + ' tokens'}, ${THREADS} thread)`,
  llamats: +ours[k].toFixed(1),
  llamaCpp: peer ? +peer[k].toFixed(1) : null,
  ratio: peer ? +(ours[k] / peer[k]).toFixed(3) : null,
}));
console.table(rows);
mkdirSync(join(root, 'bench/results'), { recursive: true });
const out = join(root, 'bench/results/core-stories260K.json');
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpus: availableParallelism(), runs: RUNS, rows }, null, 2) + '\n');
console.log(`written ${out}`);
