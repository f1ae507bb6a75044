// `npm run bench:webgpu [-- SECTIONS]`: the WebGPU backend on this machine's first adapter.
//   decode: batch-1 decode and prefill(128) tokens/s of the smollm-135m and tinyllama-1.1b presets in f32 and f16
//           (bench/llamats-row.js, each in its own process), with the weight bandwidth each decode implies, and
//           llama.cpp's Vulkan build (node-llama-cpp, bench/llamacpp-row.js) on the same file where it runs;
//   train:  training tokens/s of the 134M LLaMA of the PyTorch anchor (dim 768, 12 layers, ffn 2048, vocab 32000,
//           batch 16 x 1024) in fp32, f16x3 (f32 products on tensor cores) and mixed precision, from `llamats train
//           --backend webgpu`'s metrics, against PyTorch's figures on an H100 (fp32 without TF32, for fp32 and
//           f16x3, and fp32 with TF32 beside f16x3; bf16 autocast, eager);
//   shakespeare: the default `llamats train` run on the GPU, its wall time and validation bits per byte.
// SECTIONS is a comma-separated subset (default all); env PRESETS and DTYPES pick the decode presets (default
// smollm-135m,tinyllama-1.1b) and dtypes (default f32,f16).
// Results: bench/results/webgpu.json (the sections run replace theirs; each section records its date and adapter).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebGpuBackend } from '../dist/backend/webgpu/webgpu-backend.js';
import { closeGguf, openGguf } from '../dist/io/gguf.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist/cli/main.js');
const sections = (process.argv[2] ?? 'decode,train,shakespeare').split(',');
const tmp = mkdtempSync(join(tmpdir(), 'llamats-webgpu-bench-'));
const node = (args, options = {}) => execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 26, stdio: ['ignore', 'pipe', 'inherit'], ...options });

const probe = await WebGpuBackend.create();
const adapter = probe.device;
probe.dispose();
console.log(`adapter: ${adapter}`);
const stamp = { date: new Date().toISOString(), adapter }; // in every section: sections of one file may come from different runs
const results = {};

if (sections.includes('decode')) {
  results.decode = { ...stamp, rows: [] };
  const dtypes = (process.env.DTYPES ?? 'f32,f16').split(',');
  const presets = (process.env.PRESETS ?? 'smollm-135m,tinyllama-1.1b').split(',');
  for (const [preset, dtype] of presets.flatMap((p) => dtypes.map((d) => [p, d]))) {
    const file = join(root, 'bench/models', `${preset}-${dtype}.gguf`);
    if (!existsSync(file)) {
      mkdirSync(dirname(file), { recursive: true });
      node([cli, 'init', '--preset', preset, '--dtype', dtype, '--out', file], { stdio: 'inherit' });
    }
    const gguf = openGguf(file);
    // What one decoded token reads: the backend keeps f16 matrices as f16 and holds everything else as f32.
    let weightBytes = 0;
    for (const t of gguf.tensors.values()) {
      if (t.name === 'token_embd.weight' && gguf.tensors.has('output.weight')) continue;
      weightBytes += (t.typeName === 'F16' && t.shape.length === 2 ? 2 : 4) * t.shape.reduce((a, b) => a * b, 1);
    }
    closeGguf(gguf);
    const r = JSON.parse(node([join(root, 'bench/llamats-row.js'), file, 1, 128, 64, 3, 'webgpu']).trim().split('\n').pop());
    const row = { preset, dtype, decode: +r.decode.toFixed(1), prefill: +r.prefill.toFixed(1), weightGBps: +((weightBytes * r.decode) / 1e9).toFixed(1) };
    try {
      const peer = JSON.parse(node([join(root, 'bench/llamacpp-row.js'), file, 1, 128, 64, 3, vocabOf(file), 'vulkan'], { timeout: 600_000 }).trim().split('\n').pop());
      Object.assign(row, { decodeVulkanPeer: +peer.decode.toFixed(1), prefillVulkanPeer: +peer.prefill.toFixed(1), decodeRatio: +(r.decode / peer.decode).toFixed(2), prefillRatio: +(r.prefill / peer.prefill).toFixed(2) });
    } catch (e) {
      row.vulkanPeer = `did not run: ${String(e.message).split('\n')[0]}`;
    }
    results.decode.rows.push(row);
    console.log(JSON.stringify(row));
  }
}

function vocabOf(file) {
  const gguf = openGguf(file);
  try {
    return gguf.metadata.get('tokenizer.ggml.tokens').length;
  } finally {
    closeGguf(gguf);
  }
}

/** `llamats train` on the GPU; its metrics.jsonl rows and stdout. */
function train(out, args) {
  const stdout = node([cli, 'train', '--backend', 'webgpu', '--out', out, ...args]);
  return { stdout, metrics: readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)) };
}

if (sections.includes('train')) {
  const config = join(tmp, 'llama-134m.json');
  writeFileSync(config, JSON.stringify({ dim: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, hiddenDim: 2048, vocabSize: 32000, maxSeqLen: 1024, normEps: 1e-5, ropeTheta: 10000, ropeScaling: null, tieEmbeddings: false }));
  const steps = 6;
  const params = 134.1e6;
  const flopsPerToken = 6 * params + 12 * 12 * 1024 * 768; // 6N plus attention (12 L T d), as the PyTorch anchor counts
  // PyTorch on an H100, same model and batch (see the research notes): fp32 without TF32, and bf16 autocast eager.
  // f16x3 is f32 to 22 bits: against fp32 without TF32 (24 bits), and with TF32 (11 bits: 114k) beside it.
  const anchors = { fp32: 51_000, f16x3: 51_000, mixed: 199_000 };
  // MFU as the PyTorch anchor reports it, against the H100 SXM's rated dense peak: 989.4 TFLOP/s for f16 (and bf16)
  // on tensor cores, 66.9 for f32 on the CUDA cores; f16x3's useful products run at a third of the tensor cores'
  // rate (three products each). Left out on other adapters. (`llamats train` prints MFU against a peak it measures.)
  const ratedPeak = /h100/i.test(adapter) ? { fp32: 66.9e12, f16x3: 989.4e12 / 3, mixed: 989.4e12 } : undefined;
  results.train = { ...stamp };
  for (const precision of ['fp32', 'f16x3', 'mixed']) {
    const { metrics } = train(join(tmp, `run-134m-${precision}`), ['--text', join(root, 'assets/corpus/tinyshakespeare.txt'), '--tokenizer', join(root, 'test/fixtures/llama2-tokenizer/tokenizer.model'),
      '--config', config, '--batch', '16', '--seq-len', '1024', '--steps', String(steps), '--warmup', '1', '--eval-every', '1000', '--eval-windows', '1', '--samples', '0',
      '--precision', precision]);
    const stepRows = metrics.filter((m) => m.tokensPerSecond !== undefined);
    const last = stepRows.slice(2); // steps after the first two (pipeline compiles, pool growth)
    const seconds = last.at(-1).seconds - stepRows[1].seconds;
    const tokensPerSecond = (last.length * 16 * 1024) / seconds;
    results.train[precision] = {
      tokensPerSecond: Math.round(tokensPerSecond), tflops: +((tokensPerSecond * flopsPerToken) / 1e12).toFixed(2),
      ...(ratedPeak && { mfuOfRatedPeak: +((tokensPerSecond * flopsPerToken) / ratedPeak[precision]).toFixed(3) }),
      vsPyTorch: +(tokensPerSecond / anchors[precision]).toFixed(3), losses: stepRows.map((m) => +m.loss.toFixed(4)),
      ...(precision === 'f16x3' && { vsPyTorchTf32: +(tokensPerSecond / 114_000).toFixed(3) }),
    };
    console.log(precision, JSON.stringify(results.train[precision]));
  }
}

if (sections.includes('shakespeare')) {
  const start = performance.now();
  const { stdout } = train(join(tmp, 'shakespeare'), []);
  const bits = Number(/([\d.]+) bits per byte/.exec(stdout.split('\n').filter((l) => l.startsWith('validation')).pop() ?? '')?.[1]);
  results.shakespeare = { ...stamp, seconds: +((performance.now() - start) / 1000).toFixed(1), validationBitsPerByte: bits };
  console.log(JSON.stringify(results.shakespeare));
}

// The sections run now replace theirs in the results file; the others keep their last figures.
const file = join(root, 'bench/results/webgpu.json');
mkdirSync(dirname(file), { recursive: true });
const earlier = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
writeFileSync(file, JSON.stringify({ ...earlier, ...results }, null, 2) + '\n');
