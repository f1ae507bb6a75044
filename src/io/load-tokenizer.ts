import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArgumentError, FormatError } from '../core/errors.js';
import { createByteLevelBpe } from '../tokenizer/byte-level-bpe.js';
import { llama2cEntryCount, parseLlama2cTokenizer } from '../tokenizer/llama2c-tokenizer.js';
import { createSentencePieceBpe } from '../tokenizer/sentencepiece-bpe.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { withGguf } from './gguf.js';
import type { FileInput } from './byte-source.js';
import { parseHfVocab } from './hf-tokenizer.js';
import { isSpmVocab, vocabFromGguf, type Vocab } from './gguf-tokenizer.js';
import { detectFormat } from './load-model.js';
import { looksLikeSentencePiece, parseSentencePieceModel } from './sentencepiece-model.js';
import { looksLikeTiktoken, parseTiktokenFile } from './tiktoken-file.js';

export interface LoadTokenizerOptions {
  /** Vocabulary size, needed for a llama2.c `tokenizer.bin` (which does not store it): the model's vocabSize. */
  vocabSize?: number;
}

/**
 * Load a tokenizer from any form we read, detected by content: a Hugging Face `tokenizer.json`, a GGUF (its
 * embedded vocabulary, either kind), a `tokenizer.model` (SentencePiece protobuf, or Llama 3's tiktoken rank
 * file), a llama2.c `tokenizer.bin`, or a model folder holding one of these.
 */
export function loadTokenizer(input: FileInput, options: LoadTokenizerOptions = {}): Tokenizer {
  return tokenizerFromVocab(readVocab(input, options.vocabSize));
}

export function tokenizerFromVocab(v: Vocab): Tokenizer {
  return isSpmVocab(v) ? createSentencePieceBpe(v) : createByteLevelBpe(v);
}

/**
 * The vocabulary in any tokenizer file loadTokenizer reads (or a folder's, or such a file's bytes in memory). A
 * llama2.c `tokenizer.bin` does not store its size: it is `vocabSize` (the model's), or all its entries.
 */
export function readVocab(input: FileInput, vocabSize?: number): Vocab {
  const file = typeof input === 'string' ? tokenizerFile(input) : input.name;
  const head = typeof input === 'string' ? readHead(file, 256) : input.bytes.subarray(0, 256);
  const whole = () => (typeof input === 'string' ? readFileSync(file) : input.bytes);
  // A GGUF is read by ranges (it may hold a whole model); the other forms are small and read at once.
  if (String.fromCharCode(...head.subarray(0, 4)) === 'GGUF') {
    return withGguf(typeof input === 'string' ? file : input, (gguf) => vocabFromGguf(gguf.metadata, file));
  }
  if (file.endsWith('.json')) return parseHfVocab(new TextDecoder().decode(whole()), file);
  if (looksLikeTiktoken(head)) return parseTiktokenFile(whole(), file);
  if (file.endsWith('.model') && looksLikeSentencePiece(head)) return parseSentencePieceModel(whole(), file).vocab;
  if (!file.endsWith('.bin')) {
    throw new FormatError(file, 'format', 'a tokenizer.json, a GGUF, a tokenizer.model (SentencePiece or tiktoken) or a llama2.c tokenizer.bin', 'none of these');
  }
  const bytes = whole();
  return parseLlama2cTokenizer(bytes, vocabSize ?? llama2cEntryCount(bytes, file), file);
}

/** The tokenizer file that loadTokenizer reads for `path`: the path itself, or for a folder the one it holds. */
export function tokenizerFile(path: string): string {
  if (!isDirectory(path)) return path;
  const name = ['tokenizer.json', 'tokenizer.model', 'tokenizer.bin'].find((n) => existsSync(join(path, n)));
  if (!name) throw new FormatError(path, 'folder', 'a tokenizer.json, tokenizer.model or tokenizer.bin in it', 'none of them');
  return join(path, name);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    throw new FormatError(path, 'path', 'a tokenizer file or a model folder', 'nothing at this path');
  }
}

function readHead(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(n);
    return head.subarray(0, readSync(fd, head, 0, n, 0));
  } finally {
    closeSync(fd);
  }
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
  for (const name of format === 'hf' ? ['tokenizer.json', 'tokenizer.model', 'tokenizer.bin', 'tokenizer.gguf'] : ['tokenizer.bin']) {
    if (existsSync(join(folder, name))) return join(folder, name);
  }
  throw new ArgumentError('--tokenizer', `a tokenizer for ${modelPath} (a tokenizer file: tokenizer.json, tokenizer.model, tokenizer.bin or a .gguf)`,
    format === 'hf' ? 'a Hugging Face folder without tokenizer.json, tokenizer.model or tokenizer.bin' : 'none given and none beside the model');
}
