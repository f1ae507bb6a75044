import { readFileSync } from 'node:fs';
import { ArgumentError, FormatError } from '../core/errors.js';
import { perplexity } from '../eval/perplexity.js';
import { loadModel } from '../io/load-model.js';
import { writeSafetensors } from '../io/safetensors.js';
import { requiredFlag } from './flags.js';
import { resolveTokenizer } from './resolve-tokenizer.js';

export interface PerplexityFlags {
  model?: string; tokenizer?: string; 'text-file'?: string; 'ids-file'?: string; 'save-logits'?: string;
}

/** `llamats perplexity`: perplexity of a model on a text (tokenized with BOS, cut into maxSeqLen windows) or on ids. */
export async function runPerplexity(f: PerplexityFlags): Promise<number> {
  const modelPath = requiredFlag('model', f.model);
  if ((f['text-file'] === undefined) === (f['ids-file'] === undefined)) {
    throw new ArgumentError('--text-file / --ids-file', 'exactly one of them', f['text-file'] ? 'both' : 'neither');
  }
  const model = await loadModel(modelPath);
  let sequences: number[][];
  let nested = true;
  if (f['ids-file'] !== undefined) {
    ({ sequences, nested } = readIdsFile(f['ids-file'], model.config.vocabSize));
  } else {
    const tokenizer = resolveTokenizer(modelPath, f.tokenizer, model.config.vocabSize);
    const ids = tokenizer.encode(readFileSync(f['text-file']!, 'utf8'), { bos: true });
    sequences = [];
    for (let i = 0; i < ids.length; i += model.config.maxSeqLen) sequences.push(ids.slice(i, i + model.config.maxSeqLen));
  }
  const saveTo = f['save-logits'];
  const result = await perplexity(model, sequences, saveTo !== undefined);
  if (saveTo !== undefined) saveLogits(saveTo, result.logits!, sequences, nested, model.config.vocabSize);
  process.stderr.write(`${result.predicted} tokens predicted, mean NLL ${result.meanNll.toFixed(6)} nats\n`);
  process.stdout.write(`perplexity: ${result.perplexity.toFixed(6)}\n`);
  return 0;
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
