import { readFileSync } from 'node:fs';
import { ArgumentError, FormatError } from '../core/errors.js';
import { perplexity } from '../eval/perplexity.js';
import { loadModel } from '../io/load-model.js';
import { readSafetensorsHeader, readSafetensorsTensor, writeSafetensors } from '../io/safetensors.js';
import { backendFlags, numberFlag, requiredFlag } from './flags.js';
import { progressBar } from './progress-bar.js';
import { loadTokenizer, tokenizerPathFor } from '../io/load-tokenizer.js';

export interface PerplexityFlags {
  backend?: string; threads?: string;
  model?: string; tokenizer?: string; 'text-file'?: string; 'ids-file'?: string; 'save-logits'?: string;
  'kl-divergence-base'?: string; context?: string;
}

/**
 * `llamats perplexity`: perplexity of a model on a text (tokenized with BOS and cut into windows of --context
 * tokens; a partial last window is dropped, as llama.cpp does) or on ids. With --kl-divergence-base, also the KL
 * divergence from a base model's logits saved by --save-logits on the same input.
 */
export async function runPerplexity(f: PerplexityFlags): Promise<number> {
  const modelPath = requiredFlag('model', f.model);
  if ((f['text-file'] === undefined) === (f['ids-file'] === undefined)) {
    throw new ArgumentError('--text-file / --ids-file', 'exactly one of them', f['text-file'] ? 'both' : 'neither');
  }
  const model = await loadModel(modelPath, backendFlags(f));
  let sequences: number[][];
  let nested = true;
  if (f['ids-file'] !== undefined) {
    ({ sequences, nested } = readIdsFile(f['ids-file'], model.config.vocabSize));
  } else {
    const tokenizer = loadTokenizer(tokenizerPathFor(modelPath, f.tokenizer), { vocabSize: model.config.vocabSize });
    const context = numberFlag('context', f.context, true) ?? model.config.maxSeqLen;
    if (context < 2 || context > model.config.maxSeqLen) {
      throw new ArgumentError('--context', `an integer in [2, ${model.config.maxSeqLen}]`, String(context));
    }
    sequences = windows(tokenizer.encode(readFileSync(f['text-file']!, 'utf8'), { bos: true }), context);
  }
  const base = f['kl-divergence-base'];
  const saveTo = f['save-logits'];
  const bar = progressBar('perplexity', 'windows');
  const result = await perplexity(model, sequences, {
    keepLogits: saveTo !== undefined,
    baseLogits: base === undefined ? undefined : readBaseLogits(base, sequences, model.config.vocabSize),
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.finish();
  model.ops.dispose();
  if (saveTo !== undefined) saveLogits(saveTo, result.logits!, sequences, nested, model.config.vocabSize);
  process.stderr.write(`${result.predicted} tokens predicted, mean NLL ${result.meanNll.toFixed(6)} nats\n`);
  if (result.kl) {
    const { mean, stderr, max, sameTop } = result.kl;
    process.stdout.write(`KL divergence: mean ${mean.toExponential(4)} ± ${stderr.toExponential(2)} nats, max ${max.toExponential(4)}; same top token: ${(100 * sameTop).toFixed(3)}%\n`);
  }
  process.stdout.write(`perplexity: ${result.perplexity.toFixed(6)}\n`);
  return 0;
}

/** Consecutive windows of `size` ids; a partial last window only when there is no full one. */
function windows(ids: number[], size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i + size <= ids.length; i += size) out.push(ids.slice(i, i + size));
  return out.length ? out : [ids];
}

/** The `logits` saved by --save-logits for the same sequences: [T, V] or [B, T, V]. */
function readBaseLogits(file: string, sequences: number[][], vocab: number): Float32Array[] {
  const info = readSafetensorsHeader(file).get('logits');
  if (!info) throw new FormatError(file, 'tensor "logits"', 'the logits saved by --save-logits', 'none');
  const want = sequences.length * sequences[0]!.length * vocab;
  const { data } = readSafetensorsTensor(info);
  if (data.length !== want || sequences.some((s) => s.length !== sequences[0]!.length)) {
    throw new FormatError(file, 'tensor "logits"', `${sequences.length} x ${sequences[0]!.length} x ${vocab} values (this input)`, `shape [${info.shape.join(', ')}]`);
  }
  const size = sequences[0]!.length * vocab;
  return sequences.map((_, b) => data.subarray(b * size, (b + 1) * size));
}

/** A JSON array of ids, or an array of arrays (one per sequence). */
function readIdsFile(file: string, vocabSize: number): { sequences: number[][]; nested: boolean } {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(file, 'JSON', 'an array of token ids or an array of such arrays', (e as Error).message);
  }
  if (!Array.isArray(json) || json.length === 0) throw new FormatError(file, '(root)', 'a non-empty array', typeof json);
  const nested = Array.isArray(json[0]);
  const sequences = (nested ? json : [json]) as unknown[];
  sequences.forEach((seq, s) => {
    if (!Array.isArray(seq) || seq.length === 0) throw new FormatError(file, `[${s}]`, 'a non-empty array of ids', JSON.stringify(seq));
    seq.forEach((id, t) => {
      if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
        throw new FormatError(file, nested ? `[${s}][${t}]` : `[${t}]`, `a token id in [0, ${vocabSize})`, JSON.stringify(id));
      }
    });
  });
  return { sequences: sequences as number[][], nested };
}

/** float32 `logits`, [T, V] for one flat sequence or [B, T, V] for an array of equal-length sequences. */
function saveLogits(path: string, logits: Float32Array[], sequences: number[][], nested: boolean, vocab: number): void {
  const time = sequences[0]!.length;
  if (sequences.some((s) => s.length !== time)) {
    throw new ArgumentError('--save-logits', 'sequences of equal length (one [B, T, V] tensor)', sequences.map((s) => s.length).join(', '));
  }
  const data = new Float32Array(logits.length * time * vocab);
  logits.forEach((l, b) => data.set(l, b * time * vocab));
  const shape = nested ? [logits.length, time, vocab] : [time, vocab];
  writeSafetensors(path, { logits: { shape, data } });
}
