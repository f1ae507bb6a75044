// One benchmark row for llama.cpp through node-llama-cpp (its prebuilt binaries), in its own process:
// node bench/llamacpp-row.js MODEL THREADS PREFILL DECODE RUNS VOCAB [GPU]  ->  one JSON line on stdout.
// GPU: omitted for the CPU build; `vulkan` for the Vulkan build with every layer on the GPU.
// OMP_WAIT_POLICY=passive: llama.cpp's default OpenMP spinning collapses 2-thread decode on a shared 2-vCPU VM.
process.env.OMP_WAIT_POLICY ??= 'passive';
const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
const { promptIds } = await import('./prompt.js');

const [modelPath, threads, prefill, decode, runs, vocab, gpu] = process.argv.slice(2);
const P = Number(prefill);
const D = Number(decode);
const llama = await getLlama({ gpu: gpu ?? false, build: 'never', logLevel: LlamaLogLevel.error });
const loadStart = performance.now();
const model = await llama.loadModel({ modelPath, useMmap: true, ...(gpu ? { gpuLayers: 'max' } : {}) });
const loadSeconds = (performance.now() - loadStart) / 1000;
const context = await model.createContext({ contextSize: P + D + 16, threads: Number(threads), batchSize: P });
const sequence = context.getSequence();
const prompt = promptIds(Number(vocab), P);

async function once() {
  await sequence.clearHistory();
  let t = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(prompt);
  const prefillSeconds = (performance.now() - t) / 1000;
  t = performance.now();
  let n = 0;
  for await (const _ of sequence.evaluate([prompt[prompt.length - 1]], { temperature: 0 })) if (++n >= D) break;
  return { prefill: P / prefillSeconds, decode: n / ((performance.now() - t) / 1000) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
await once();
const rows = [];
for (let i = 0; i < Number(runs); i++) rows.push(await once());
await context.dispose();
await model.dispose();
console.log(JSON.stringify({
  prefill: median(rows.map((r) => r.prefill)), decode: median(rows.map((r) => r.decode)),
  loadSeconds, maxRssMB: process.resourceUsage().maxRSS / 1024, ...(gpu ? { devices: await llama.getGpuDeviceNames() } : {}),
}));
