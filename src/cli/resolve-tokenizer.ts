import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArgumentError } from '../core/errors.js';
import { detectFormat } from '../io/load-model.js';
import { loadTokenizer } from '../io/load-tokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

/**
 * The tokenizer for a model: --tokenizer when given; else the one inside a GGUF; else, for a llama2.c .bin,
 * `tokenizer.bin` beside it (llama2.c's convention).
 */
export function resolveTokenizer(modelPath: string, tokenizerPath: string | undefined, vocabSize: number): Tokenizer {
  if (tokenizerPath) return loadTokenizer(tokenizerPath, { vocabSize });
  const format = detectFormat(modelPath);
  if (format === 'gguf') return loadTokenizer(modelPath);
  const beside = join(format === 'hf' ? modelPath : dirname(modelPath), 'tokenizer.bin');
  if (existsSync(beside)) return loadTokenizer(beside, { vocabSize });
  throw new ArgumentError('--tokenizer', `a tokenizer for ${modelPath} (a llama2.c tokenizer.bin or a .gguf)`, 'none given and none beside the model');
}
