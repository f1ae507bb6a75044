// `npm run bench:tokenizers`: encoding throughput of our tokenizers against the JavaScript peers on the same text in
// one run: Llama 3 (ours on Meta's rank file and on HF's tokenizer.json; js-tiktoken on the rank file with Meta's
// 256 specials; @huggingface/tokenizers on the tokenizer.json) and LLaMA 2 (ours on SentencePiece's .model and on
// the tokenizer.json; @huggingface/tokenizers). The text: the built-in English corpora repeated to ~9 MB plus ~1 MB
// of the tokenizer fuzz strings (random, mixed-script, not repetitive), encoded one paragraph per call (split on
// blank lines), as a data pipeline would. Medians of 3 timed passes after a warm-up; MB/s counts UTF-8 bytes.
// Also: how many paragraphs each peer encodes differently from us (on the same file format), and how many of the
// 10,000 fuzz strings each encodes differently from the reference of its format (tiktoken, SentencePiece, HF's
// Rust tokenizers). Results: bench/results/tokenizers.json.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tiktoken } from 'js-tiktoken/lite';
import { loadTokenizer } from '../dist/io/load-tokenizer.js';
import { llama3SpecialTokens } from '../dist/io/tiktoken-file.js';
import { writeFileAtomic } from '../dist/io/atomic-write.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = (...p) => join(root, 'test/fixtures', ...p);
const PASSES = 3;

// ---- The text ----
const english = ['tinyshakespeare.txt', 'tinystories-sample.txt'].map((f) => readFileSync(join(root, 'assets/corpus', f), 'utf8')).join('\n\n');
const fuzz = JSON.parse(gunzipSync(readFileSync(fixture('tokenizer-fuzz/fuzz.json.gz'))).toString('utf8'));
const englishParas = english.split('\n\n');
const mixedParas = fuzz.strings.filter((s) => !s.includes('\n\n') && s.length > 0);
const paras = [];
for (let bytes = 0, i = 0; bytes < 9e6; i++) {
  paras.push(englishParas[i % englishParas.length]);
  bytes += Buffer.byteLength(paras[paras.length - 1]);
}
const mixedBytes = mixedParas.reduce((n, p) => n + Buffer.byteLength(p), 0);
for (let copy = 0; copy * mixedBytes < 1e6; copy++) paras.push(...mixedParas.map((p) => (copy ? `${copy} ${p}` : p)));
const totalBytes = paras.reduce((n, p) => n + Buffer.byteLength(p), 0);

// ---- The tokenizers ----
const tmp = mkdtempSync(join(tmpdir(), 'llamats-bench-'));
const unpack = (name) => {
  const file = join(tmp, `${name}.json`);
  writeFileSync(file, gunzipSync(readFileSync(fixture('hf-tokenizers', `${name}.json.gz`))));
  return file;
};
const llama3Json = unpack('llama3-tokenizer'), llama2Json = unpack('llama2-tokenizer');
const llama3Config = JSON.parse(readFileSync(fixture('hf-tokenizers/llama3-tokenizer_config.json'), 'utf8'));

/** Ours; a tokenizer.json parses special-token text, as Hugging Face's libraries do by default. */
function ours(path) {
  const t = loadTokenizer(path);
  const options = { parseSpecial: path.endsWith('.json') };
  return (text) => t.encode(text, options);
}
function hf(jsonPath, config) {
  const t = new HfTokenizer(JSON.parse(readFileSync(jsonPath, 'utf8')), config);
  return (text) => t.encode(text, { add_special_tokens: false }).ids;
}
function tiktoken(withSpecials) {
  const lines = readFileSync(fixture('llama3-tokenizer/tokenizer.model'), 'utf8').trim().split('\n');
  const specials = withSpecials ? Object.fromEntries(llama3SpecialTokens().map((s, i) => [s, lines.length + i])) : {};
  // js-tiktoken's rank format: "<ignored> <first rank> <base64> <base64> ...". Meta's pattern with (?i:...) spelled out.
  const pattern = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
  const t = new Tiktoken({ bpe_ranks: `! 0 ${lines.map((l) => l.split(' ')[0]).join(' ')}`, special_tokens: specials, pat_str: pattern });
  return (text) => t.encode(text, [], []); // Meta's default: special-token text is ordinary text
}

const families = [
  { name: 'Llama 3', references: { json: 'hf-llama3', model: 'tiktoken-llama3' }, encoders: [
    ['llamats (tokenizer.model)', () => ours(fixture('llama3-tokenizer/tokenizer.model'))],
    ['llamats (tokenizer.json)', () => ours(llama3Json), 'json'],
    ['js-tiktoken', () => tiktoken(true)],
    ['js-tiktoken (no special tokens)', () => tiktoken(false)],
    ['@huggingface/tokenizers', () => hf(llama3Json, llama3Config), 'json'],
  ] },
  { name: 'LLaMA 2', references: { json: 'hf-llama2', model: 'sentencepiece-llama2' }, encoders: [
    ['llamats (tokenizer.model)', () => ours(fixture('llama2-tokenizer/tokenizer.model'))],
    ['llamats (tokenizer.json)', () => ours(llama2Json), 'json'],
    ['@huggingface/tokenizers', () => hf(llama2Json, {}), 'json'],
  ] },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

console.log(`text: ${paras.length} paragraphs, ${(totalBytes / 1e6).toFixed(2)} MB (${(mixedBytes / 1e6).toFixed(2)} MB of it mixed-script random strings, ${Math.ceil(1e6 / mixedBytes)}x)`);
const rows = [];
for (const family of families) {
  const ours = {}; // our ids per file format, which the peers reading that format are compared with
  for (const [name, make, format = 'model'] of family.encoders) {
    const loadStart = performance.now();
    const encode = make();
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const ids = paras.map(encode); // warm-up, and the ids for the agreement count
    ours[format] ??= ids;
    const seconds = [];
    for (let pass = 0; pass < PASSES; pass++) {
      const t = performance.now();
      for (const p of paras) encode(p);
      seconds.push((performance.now() - t) / 1000);
    }
    const mixedStart = performance.now();
    for (const p of mixedParas) encode(p);
    const mixedMBps = mixedBytes / 1e6 / ((performance.now() - mixedStart) / 1000);
    const reference = fuzz.ids[family.references[format]];
    const fuzzMismatches = fuzz.strings.filter((s, i) => !same(encode(s), reference[i])).length;
    const row = {
      family: family.name, tokenizer: name, MBps: +(totalBytes / 1e6 / median(seconds)).toFixed(2), mixedMBps: +mixedMBps.toFixed(2),
      loadSeconds: +loadSeconds.toFixed(2), paragraphsDifferingFromOurs: ids.filter((x, i) => !same(x, ours[format][i])).length,
      [`fuzzMismatchesVs_${family.references[format]}`]: fuzzMismatches,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  const ourBest = Math.max(...rows.filter((r) => r.family === family.name && r.tokenizer.startsWith('llamats')).map((r) => r.MBps));
  const peerBest = Math.max(...rows.filter((r) => r.family === family.name && !r.tokenizer.startsWith('llamats')).map((r) => r.MBps));
  console.log(`${family.name}: ours ${ourBest} MB/s, fastest peer ${peerBest} MB/s: ${(ourBest / peerBest).toFixed(2)}x`);
  rows.push({ family: family.name, tokenizer: 'ratio (our best / fastest peer)', ratio: +(ourBest / peerBest).toFixed(2) });
}
rmSync(tmp, { recursive: true, force: true });
console.table(rows);
writeFileAtomic(join(root, 'bench/results/tokenizers.json'), `${JSON.stringify({ date: new Date().toISOString(), totalBytes, mixedBytes, passes: PASSES, rows }, null, 2)}\n`);
console.log('written bench/results/tokenizers.json');
