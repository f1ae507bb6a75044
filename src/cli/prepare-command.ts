import { ArgumentError } from '../core/errors.js';
import { prepareData } from '../data/prepare.js';
import { loadTokenizer } from '../io/load-tokenizer.js';
import { assetPath } from '../io/package-paths.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { numberFlag } from './flags.js';
import { progressBar } from './progress-bar.js';

export interface PrepareFlags {
  input?: string[]; tokenizer?: string; out?: string; 'val-fraction'?: string;
}

/** `llamats prepare`: text files -> token shards (train.bin, val.bin, meta.json) for `llamats train --data`. */
export async function runPrepare(f: PrepareFlags): Promise<number> {
  const inputs = f.input?.flatMap((i) => i.split(',')) ?? [assetPath('corpus', 'tinyshakespeare.txt')];
  const out = f.out ?? 'data/tinyshakespeare';
  const spec = f.tokenizer ?? 'bytes';
  const meta = await prepareWithProgress(inputs, tokenizerFromFlag(spec), spec, out, numberFlag('val-fraction', f['val-fraction']));
  process.stderr.write(`wrote ${out}: ${meta.trainTokens} training and ${meta.valTokens} validation tokens (${meta.dtype})\n`);
  return 0;
}

/** `bytes`, or a tokenizer file loadTokenizer reads (a llama2.c tokenizer.bin needs the model's vocabSize). */
export function tokenizerFromFlag(spec: string, vocabSize?: number): Tokenizer {
  return spec === 'bytes' ? new ByteTokenizer() : loadTokenizer(spec, { vocabSize });
}

export async function prepareWithProgress(inputs: string[], tokenizer: Tokenizer, tokenizerSpec: string, outDir: string, valFraction?: number) {
  if (inputs.length === 0) throw new ArgumentError('--input', 'one or more text files', 'none');
  const bar = progressBar('prepare', 'kB');
  const meta = await prepareData({
    inputs, tokenizer, tokenizerPath: tokenizerSpec, outDir, valFraction,
    onProgress: (done, total) => bar.update(Math.round(done / 1e3), Math.round(total / 1e3)),
  });
  bar.finish();
  return meta;
}
