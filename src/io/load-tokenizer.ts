import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArgumentError, UnsupportedError } from '../core/errors.js';
import { parseLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer.js';
import { createSentencePieceBpe, type SpmVocab } from '../tokenizer/sentencepiece-bpe.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { withGguf } from './gguf.js';
import { readHfTokenizer } from './hf-tokenizer.js';
import { spmVocabFromGguf } from './gguf-tokenizer.js';
import { detectFormat } from './load-model.js';

export interface LoadTokenizerOptions {
  /** Vocabulary size, needed for a llama2.c `tokenizer.bin` (which does not store it): the model's vocabSize. */
  vocabSize?: number;
}

/** Load a tokenizer from a GGUF (embedded vocabulary), a llama2.c `tokenizer.bin`, or a `tokenizer.json`. */
export function loadTokenizer(path: string, options: LoadTokenizerOptions = {}): Tokenizer {
  if (path.endsWith('.json')) return readHfTokenizer(path);
  return createSentencePieceBpe(readSpmVocab(path, options.vocabSize));
}

/** The SentencePiece vocabulary in a GGUF or a llama2.c `tokenizer.bin` (which needs `vocabSize`). */
export function readSpmVocab(path: string, vocabSize?: number): SpmVocab {
  const format = detectFormat(path);
  if (format === 'gguf') return withGguf(path, (file) => spmVocabFromGguf(file.metadata, path));
  if (format === 'hf') throw new UnsupportedError(path, 'tokenizer', 'a Hugging Face tokenizer.json');
  if (vocabSize === undefined) {
    throw new ArgumentError('vocabSize', "the model's vocabulary size to read a llama2.c tokenizer.bin", 'none');
  }
  return parseLlama2cTokenizer(readFileSync(path), vocabSize, path);
}

/**
 * Where a model's tokenizer is: `explicit` when given; else the GGUF itself; else, for a llama2.c .bin,
 * `tokenizer.bin` beside it (llama2.c's convention).
 */
export function tokenizerPathFor(modelPath: string, explicit?: string): string {
  if (explicit !== undefined) return explicit;
  const format = detectFormat(modelPath);
  if (format === 'gguf') return modelPath;
  const folder = format === 'hf' ? modelPath : dirname(modelPath);
  for (const name of format === 'hf' ? ['tokenizer.json', 'tokenizer.bin', 'tokenizer.gguf'] : ['tokenizer.bin']) {
    if (existsSync(join(folder, name))) return join(folder, name);
  }
  throw new ArgumentError('--tokenizer', `a tokenizer for ${modelPath} (a llama2.c tokenizer.bin or a .gguf)`,
    format === 'hf' ? 'a Hugging Face folder without tokenizer.json or tokenizer.bin' : 'none given and none beside the model');
}
