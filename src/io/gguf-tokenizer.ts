/**
 * The vocabulary embedded in a GGUF's `tokenizer.ggml.*` metadata (llama.cpp's keys), read and written, for both
 * kinds of `tokenizer.ggml.model`: "llama" (SentencePiece BPE: pieces, scores, types) and "gpt2" (byte-level BPE:
 * tokens in GPT-2's byte alphabet, merges, and the pre-tokenizer named by `tokenizer.ggml.pre`).
 */
import { FormatError, UnsupportedError } from '../core/errors.js';
import { byteString, GPT2_PATTERN, LLAMA3_PATTERN, regexForJs, spellBytes, twoTokenSplits, unspellBytes, type ByteLevelBpeVocab } from '../tokenizer/byte-level-bpe.js';
import { spmTokenType, type SpmVocab } from '../tokenizer/sentencepiece-bpe.js';
import { gv, type GgufTypedValue } from './gguf-writer.js';

/** Either kind of vocabulary: SentencePiece's has `pieces`, byte-level BPE's `tokens`. */
export type Vocab = SpmVocab | ByteLevelBpeVocab;

export function isSpmVocab(v: Vocab): v is SpmVocab {
  return 'pieces' in v;
}

export function vocabSize(v: Vocab): number {
  return isSpmVocab(v) ? v.pieces.length : v.tokens.length;
}

/** The vocabulary of a GGUF, of either kind. */
export function vocabFromGguf(metadata: ReadonlyMap<string, unknown>, file: string): Vocab {
  return metadata.get('tokenizer.ggml.model') === 'gpt2' ? byteLevelVocabFromGguf(metadata, file) : spmVocabFromGguf(metadata, file);
}


/**
 * A byte-level vocabulary from GGUF metadata with `tokenizer.ggml.model` "gpt2". `tokenizer.ggml.pre` picks the
 * pre-tokenizer: "llama-bpe" is Llama 3's (Meta's regex; a pre-token that is a whole token is taken whole, as
 * llama.cpp does for it), "default" or none GPT-2's. Control and user-defined tokens are the special tokens.
 */
export function byteLevelVocabFromGguf(metadata: ReadonlyMap<string, unknown>, file: string): ByteLevelBpeVocab {
  const names = arrayOf(metadata, 'tokenizer.ggml.tokens', file, 'string', -1) as string[];
  const n = names.length;
  const types = arrayOf(metadata, 'tokenizer.ggml.token_type', file, 'number', n) as number[];
  const merges = arrayOf(metadata, 'tokenizer.ggml.merges', file, 'string', -1) as string[];
  const pre = metadata.get('tokenizer.ggml.pre') ?? 'default';
  if (pre !== 'llama-bpe' && pre !== 'default') throw new UnsupportedError(file, 'tokenizer.ggml.pre', `the pre-tokenizer ${JSON.stringify(pre)} (we have "llama-bpe" and "default")`);
  const encoder = new TextEncoder();
  const special = (id: number) => types[id] === spmTokenType.control || types[id] === spmTokenType.userDefined;
  const tokens = names.map((name, id) => {
    if (special(id)) return encoder.encode(name);
    const bytes = unspellBytes(name);
    if (!bytes) throw new FormatError(file, `tokenizer.ggml.tokens[${id}]`, 'a token in the byte-level alphabet', JSON.stringify(name));
    return bytes;
  });
  const idOf = new Map(names.map((name, id) => [name, id]));
  return {
    tokens,
    specialIds: names.map((_, id) => id).filter(special),
    merges: merges.map((m, k): [number, number] => {
      const parts = m.split(' ');
      const ids = parts.map((p) => idOf.get(p));
      if (parts.length !== 2 || ids[0] === undefined || ids[1] === undefined) throw new FormatError(file, `tokenizer.ggml.merges[${k}]`, '"left right", two tokens', JSON.stringify(m));
      return [ids[0], ids[1]];
    }),
    pattern: regexForJs(pre === 'llama-bpe' ? LLAMA3_PATTERN : GPT2_PATTERN),
    wholeTokens: pre === 'llama-bpe',
    bosId: tokenId(metadata, 'tokenizer.ggml.bos_token_id', file, -1, n),
    eosId: tokenId(metadata, 'tokenizer.ggml.eos_token_id', file, -1, n),
    addBos: booleanOf(metadata, 'tokenizer.ggml.add_bos_token', file, true),
  };
}

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
    addBos: booleanOf(metadata, 'tokenizer.ggml.add_bos_token', file, true),
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

/** The `tokenizer.ggml.*` metadata of either kind of vocabulary. */
export function vocabToGgufMetadata(v: Vocab): [string, GgufTypedValue][] {
  return isSpmVocab(v) ? spmVocabToGgufMetadata(v) : byteLevelVocabToGgufMetadata(v);
}

/**
 * The `tokenizer.ggml.*` metadata of a byte-level vocabulary, as llama.cpp's converter writes Llama 3's: model
 * "gpt2", pre-tokenizer "llama-bpe", tokens in GPT-2's byte alphabet (special tokens as their text, type control),
 * merges "left right" (for a tiktoken rank vocabulary, every split of each token into two, by the token's rank).
 */
export function byteLevelVocabToGgufMetadata(v: ByteLevelBpeVocab): [string, GgufTypedValue][] {
  const special = new Set(v.specialIds);
  const names = v.tokens.map((bytes, id) => (special.has(id) ? new TextDecoder().decode(bytes) : spellBytes(bytes)));
  const merges = v.merges === 'ranks' ? mergesFromRanks(v.tokens, special) : v.merges;
  const id = (n: number) => gv.u32(n < 0 ? noToken : n);
  return [
    ['tokenizer.ggml.model', gv.string('gpt2')],
    ['tokenizer.ggml.pre', gv.string('llama-bpe')],
    ['tokenizer.ggml.tokens', gv.array('string', names)],
    ['tokenizer.ggml.token_type', gv.array('i32', names.map((_, i) => (special.has(i) ? spmTokenType.control : spmTokenType.normal)))],
    ['tokenizer.ggml.merges', gv.array('string', merges.map(([a, b]) => `${names[a]} ${names[b]}`))],
    ['tokenizer.ggml.bos_token_id', id(v.bosId)],
    ['tokenizer.ggml.eos_token_id', id(v.eosId)],
    ['tokenizer.ggml.add_bos_token', gv.bool(v.addBos ?? v.bosId >= 0)],
  ];
}

/** tiktoken's merge rule as a list: each way to split a token into two tokens, by the token's rank, then the halves'. */
export function mergesFromRanks(tokens: Uint8Array[], special: Set<number>): [number, number][] {
  const byBytes = new Map<string, number>();
  tokens.forEach((t, id) => special.has(id) || byBytes.set(byteString(t), id));
  return twoTokenSplits(byBytes).map(([left, right]) => [left, right]);
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
    ['tokenizer.ggml.add_bos_token', gv.bool(vocab.addBos ?? vocab.bosId >= 0)],
    ['tokenizer.ggml.add_eos_token', gv.bool(false)],
    ['tokenizer.ggml.add_space_prefix', gv.bool(vocab.addSpacePrefix)],
  ];
}
