import { ArgumentError, UnsupportedError } from '../core/errors.js';
import { readLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer.js';
import { createSentencePieceBpe } from '../tokenizer/sentencepiece-bpe.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { closeGguf, openGguf } from './gguf.js';
import { spmVocabFromGguf } from './gguf-tokenizer.js';
import { detectFormat } from './load-model.js';

export interface LoadTokenizerOptions {
  /** Vocabulary size, needed for a llama2.c `tokenizer.bin` (which does not store it): the model's vocabSize. */
  vocabSize?: number;
}

/** Load a tokenizer from a GGUF (embedded vocabulary) or a llama2.c `tokenizer.bin`. */
export function loadTokenizer(path: string, options: LoadTokenizerOptions = {}): Tokenizer {
  const format = detectFormat(path);
  if (format === 'gguf') {
    const file = openGguf(path);
    try {
      return createSentencePieceBpe(spmVocabFromGguf(file.metadata, path));
    } finally {
      closeGguf(file);
    }
  }
  if (format === 'hf') throw new UnsupportedError(path, 'tokenizer', 'a Hugging Face tokenizer.json');
  if (options.vocabSize === undefined) {
    throw new ArgumentError('vocabSize', "the model's vocabulary size to read a llama2.c tokenizer.bin", 'none');
  }
  return readLlama2cTokenizer(path, options.vocabSize);
}
