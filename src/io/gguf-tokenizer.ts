/** The SentencePiece vocabulary embedded in a GGUF's `tokenizer.ggml.*` metadata (llama.cpp's keys), read and written. */
import { FormatError, UnsupportedError } from '../core/errors.js';
import type { SpmVocab } from '../tokenizer/sentencepiece-bpe.js';
import { gv, type GgufTypedValue } from './gguf-writer.js';

/** llama.cpp writes this id (u32 -1) for "no such token". */
const noToken = 0xffffffff;

/**
 * An SpmVocab from GGUF metadata with `tokenizer.ggml.model` "llama". BOS/EOS/unk default to 1/2/0 and
 * add_space_prefix to true when absent, as llama.cpp does for this model kind.
 */
export function spmVocabFromGguf(metadata: ReadonlyMap<string, unknown>, file: string): SpmVocab {
  const model = metadata.get('tokenizer.ggml.model');
  if (typeof model !== 'string') throw new FormatError(file, 'tokenizer.ggml.model', 'a string', describe(model));
  if (model !== 'llama') throw new UnsupportedError(file, 'tokenizer.ggml.model', `the tokenizer model "${model}"`);
  const pieces = arrayOf(metadata, 'tokenizer.ggml.tokens', file, 'string', -1) as string[];
  const n = pieces.length;
  const types = arrayOf(metadata, 'tokenizer.ggml.token_type', file, 'number', n) as number[];
  const badType = types.findIndex((type) => !Number.isInteger(type) || type < 1 || type > 6);
  if (badType >= 0) throw new FormatError(file, `tokenizer.ggml.token_type[${badType}]`, 'a token type 1..6', String(types[badType]));
  return {
    pieces,
    scores: Float32Array.from(arrayOf(metadata, 'tokenizer.ggml.scores', file, 'number', n) as number[]),
    types,
    bosId: tokenId(metadata, 'tokenizer.ggml.bos_token_id', file, 1, n),
    eosId: tokenId(metadata, 'tokenizer.ggml.eos_token_id', file, 2, n),
    unkId: tokenId(metadata, 'tokenizer.ggml.unknown_token_id', file, 0, n),
    addSpacePrefix: booleanOf(metadata, 'tokenizer.ggml.add_space_prefix', file, true),
  };
}

/** The array at `key`, every element of `type`, with `length` elements (any length when -1). */
function arrayOf(metadata: ReadonlyMap<string, unknown>, key: string, file: string, type: 'string' | 'number', length: number): unknown[] {
  const v = metadata.get(key);
  if (!Array.isArray(v)) throw new FormatError(file, key, `an array of ${type}s`, describe(v));
  if (length >= 0 && v.length !== length) throw new FormatError(file, key, `${length} entries (one per token)`, `${v.length}`);
  const bad = v.findIndex((x) => typeof x !== type);
  if (bad >= 0) throw new FormatError(file, `${key}[${bad}]`, `a ${type}`, describe(v[bad]));
  return v;
}

/** A token id, or -1 for llama.cpp's "none"; `fallback` when the key is absent. */
function tokenId(metadata: ReadonlyMap<string, unknown>, key: string, file: string, fallback: number, vocabSize: number): number {
  const v = metadata.get(key) ?? fallback;
  if (v === noToken || v === -1) return -1;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= vocabSize) {
    throw new FormatError(file, key, `a token id in [0, ${vocabSize}) or ${noToken} for none`, describe(v));
  }
  return v;
}

function booleanOf(metadata: ReadonlyMap<string, unknown>, key: string, file: string, fallback: boolean): boolean {
  const v = metadata.get(key) ?? fallback;
  if (typeof v !== 'boolean') throw new FormatError(file, key, 'true or false', describe(v));
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'no such key';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  return `${typeof v} ${String(v)}`;
}

/**
 * The `tokenizer.ggml.*` metadata of an SPM vocabulary, typed as llama.cpp writes it (the inverse of
 * spmVocabFromGguf): model "llama", pre-tokenizer "default", pieces, f32 scores, i32 token types, u32 special ids
 * (0xFFFFFFFF for none), BOS added to each prompt and EOS not, as LLaMA 1/2 do.
 */
export function spmVocabToGgufMetadata(vocab: SpmVocab): [string, GgufTypedValue][] {
  const id = (n: number) => gv.u32(n < 0 ? noToken : n);
  return [
    ['tokenizer.ggml.model', gv.string('llama')],
    ['tokenizer.ggml.pre', gv.string('default')],
    ['tokenizer.ggml.tokens', gv.array('string', vocab.pieces)],
    ['tokenizer.ggml.scores', gv.array('f32', vocab.scores)],
    ['tokenizer.ggml.token_type', gv.array('i32', vocab.types)],
    ['tokenizer.ggml.bos_token_id', id(vocab.bosId)],
    ['tokenizer.ggml.eos_token_id', id(vocab.eosId)],
    ['tokenizer.ggml.unknown_token_id', id(vocab.unkId)],
    ['tokenizer.ggml.add_bos_token', gv.bool(true)],
    ['tokenizer.ggml.add_eos_token', gv.bool(false)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(vocab.addSpacePrefix)],
  ];
}
