// `npm run bench [-- FILTER]`: CPU decode and prefill tokens/s of llamats against llama.cpp (node-llama-cpp's
// prebuilt CPU binaries) on the same GGUF files, same prompt, same threads, in the same run; medians of several
// runs after a warm-up; the ratio per row; and the weight bandwidth each decode implies against the machine's
// read bandwidth measured here. Each engine runs in its own process (its peak memory is its own).
// Results: bench/results/cpu.json. FILTER keeps rows whose name contains it (e.g. `smollm`).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeGguf, openGguf } from '../dist/io/gguf.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const models = join(root, 'bench/models');
const filter = process.argv[2] ?? '';
const PREFILL = 128;
const RUNS = 3;
const THREADS = [1, 2].filter((t) => t <= availableParallelism());

const rows = [
  { name: 'stories260K', dtype: 'f32', file: join(root, 'test/fixtures/stories260K/stories260K.gguf'), decode: 128 },
  ...['f32', 'q8_0', 'q4_0', 'q4_k'].map((dtype) => ({ name: 'smollm-135m', dtype, decode: 64 })),
  ...['f16', 'q8_0', 'q4_0', 'q4_k'].map((dtype) => ({ name: 'tinyllama-1.1b', dtype, decode: 32 })),
].filter((r) => `${r.name} ${r.dtype}`.includes(filter));

function node(script, args) {
  const out = execFileSync(process.execPath, [join(root, script), ...args.map(String)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}

/** A preset's random-weight GGUF, made once with `llamats init` and kept in bench/models (not in git). */
function modelFile(row) {
  if (row.file) return row.file;
  const file = join(models, `${row.name}-${row.dtype}.gguf`);
  if (!existsSync(file)) {
    mkdirSync(models, { recursive: true });
    execFileSync(process.execPath, [join(root, 'dist/cli/main.js'), 'init', '--preset', row.name, '--dtype', row.dtype, '--out', file], { stdio: 'inherit' });
  }
  return file;
}

/** Bytes of weights one decoded token reads: every tensor but the embedding table, unless it doubles as output. */
function weightBytesPerToken(file) {
  const gguf = openGguf(file);
  try {
    let bytes = 0;
    for (const t of gguf.tensors.values()) if (t.name !== 'token_embd.weight' || !gguf.tensors.has('output.weight')) bytes += t.byteLength;
    return { bytes, vocab: gguf.tensors.get('token_embd.weight').shape[0] };
  } finally {
    closeGguf(gguf);
  }
}

const bandwidth = Object.fromEntries(THREADS.map((t) => [t, node('bench/bandwidth.js', [t]).gbPerSecond]));
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} threads; read bandwidth ${THREADS.map((t) => `${t}T ${bandwidth[t].toFixed(1)} GB/s`).join(', ')}`);
const results = [];
for (const row of rows) {
  const file = modelFile(row);
  const { bytes, vocab } = weightBytesPerToken(file);
  for (const threads of THREADS) {
    const args = [file, threads, PREFILL, row.decode, RUNS];
    const ours = node('bench/llamats-row.js', args);
    const peer = node('bench/llamacpp-row.js', [...args, vocab]);
    const r = {
      model: row.name, dtype: row.dtype, threads,
      decode: +ours.decode.toFixed(1), decodePeer: +peer.decode.toFixed(1), decodeRatio: +(ours.decode / peer.decode).toFixed(2),
      prefill: +ours.prefill.toFixed(1), prefillPeer: +peer.prefill.toFixed(1), prefillRatio: +(ours.prefill / peer.prefill).toFixed(2),
      weightGBps: +((bytes * ours.decode) / 1e9).toFixed(1),
      ofReadBandwidth: +((bytes * ours.decode) / 1e9 / bandwidth[threads]).toFixed(2),
      rssMB: Math.round(ours.maxRssMB), rssPeerMB: Math.round(peer.maxRssMB), fileMB: Math.round(bytes / 1e6),
    };
    results.push(r);
    console.log(JSON.stringify(r));
  }
}
console.table(results);
// Rows of a filtered run replace the same rows of earlier runs; the others are kept.
mkdirSync(join(root, 'bench/results'), { recursive: true });
const out = join(root, 'bench/results/cpu.json');
const key = (r) => `${r.model} ${r.dtype} ${r.threads}`;
const earlier = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')).rows : [];
const rowsOut = [...earlier.filter((r) => !results.some((n) => key(n) === key(r))), ...results];
writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, prefillTokens: PREFILL, runs: RUNS, bandwidth, rows: rowsOut }, null, 2) + '\n');
console.log(`written ${out}`);
