/**
 * Hugging Face `tokenizer.json` for the byte vocabulary (id = byte value): a byte-level BPE with no merges, which
 * transformers' PreTrainedTokenizerFast and the `tokenizers` library load and run as is. Reading general
 * tokenizer.json files (SentencePiece-style and LLaMA 3's byte-level BPE with merges) is the tokenizer work still
 * to come; this reader accepts exactly the byte form.
 */
import { readFileSync } from 'node:fs';
import { FormatError, UnsupportedError } from '../core/errors.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import { byteLevelAlphabet } from '../tokenizer/byte-level-bpe.js';

const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };

export function byteTokenizerJson(): Record<string, unknown> {
  const vocab = Object.fromEntries(byteLevelAlphabet().map((c, b) => [c, b]));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
    pre_tokenizer: byteLevel, post_processor: null, decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: [],
    },
  };
}

export function byteTokenizerConfigJson(modelMaxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: modelMaxLength, clean_up_tokenization_spaces: false,
    bos_token: null, eos_token: null, add_bos_token: false, add_eos_token: false,
  };
}

/** A tokenizer.json: the byte form above as a ByteTokenizer; any other is not supported yet. */
export function readHfTokenizer(path: string): ByteTokenizer {
  let json: { model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[] }; pre_tokenizer?: { type?: string } | null };
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new FormatError(path, 'JSON', 'a tokenizer.json', (e as Error).message);
  }
  const model = json.model;
  if (!model || typeof model.vocab !== 'object' || !Array.isArray(model.merges)) {
    throw new FormatError(path, 'model', 'an object with "vocab" and "merges"', JSON.stringify(model)?.slice(0, 80) ?? 'none');
  }
  const alphabet = byteLevelAlphabet();
  const isBytes = model.type === 'BPE' && json.pre_tokenizer?.type === 'ByteLevel' && model.merges.length === 0
    && Object.keys(model.vocab).length === 256 && alphabet.every((c, b) => model.vocab![c] === b);
  if (!isBytes) throw new UnsupportedError(path, 'model', 'tokenizer.json files other than the byte vocabulary llamats writes');
  return new ByteTokenizer();
}
