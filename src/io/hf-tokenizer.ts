/**
 * Hugging Face `tokenizer.json`: reading the BPE files of both LLaMA families, and writing the byte vocabulary (id =
 * byte value: a byte-level BPE with no merges) that `llamats train` gives its models, which transformers'
 * PreTrainedTokenizerFast and the `tokenizers` library load and run as is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FormatError, UnsupportedError } from '../core/errors.js';
import { byteLevelAlphabet, createByteLevelBpe, GPT2_PATTERN, regexForJs, spellBytes, unspellBytes, type ByteLevelBpeVocab } from '../tokenizer/byte-level-bpe.js';
import { createSentencePieceBpe, spmTokenType, type SpmVocab } from '../tokenizer/sentencepiece-bpe.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

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

const BPE_DEFAULTS = { type: 'BPE', dropout: null, continuing_subword_prefix: null, end_of_word_suffix: null };

function addedToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** A post-processor that puts BOS first, as LLaMA's tokenizer.json files do. */
function bosFirst(bos: string, bosId: number): Record<string, unknown> {
  const seq = (id: string, typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const special = { SpecialToken: { id: bos, type_id: 0 } };
  return {
    type: 'TemplateProcessing', single: [special, seq('A', 0)], pair: [special, seq('A', 0), { SpecialToken: { id: bos, type_id: 1 } }, seq('B', 1)],
    special_tokens: { [bos]: { id: bos, ids: [bosId], tokens: [bos] } },
  };
}

/**
 * A SentencePiece-style vocabulary as a tokenizer.json in LLaMA 2's older form (Prepend + Replace normalizer,
 * which Hugging Face applies as SentencePiece does: the dummy prefix even before a leading space), BPE with byte
 * fallback over `merges`; control and unknown pieces are its added tokens.
 */
export function sentencePieceTokenizerJson(v: SpmVocab & { merges: readonly (readonly [number, number])[] }): Record<string, unknown> {
  const special = v.pieces.map((_, id) => id).filter((id) => v.types[id] === spmTokenType.control || v.types[id] === spmTokenType.unknown);
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: special.map((id) => addedToken(id, v.pieces[id]!)),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    post_processor: v.bosId >= 0 ? bosFirst(v.pieces[v.bosId]!, v.bosId) : null,
    decoder: { type: 'Sequence', decoders: [
      { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' },
      { type: 'Strip', content: ' ', start: 1, stop: 0 },
    ] },
    model: {
      ...BPE_DEFAULTS, unk_token: v.unkId >= 0 ? v.pieces[v.unkId] : null, fuse_unk: true, byte_fallback: true, ignore_merges: false,
      vocab: Object.fromEntries(v.pieces.map((p, id) => [p, id])),
      merges: v.merges.map(([a, b]) => [v.pieces[a], v.pieces[b]]),
    },
  };
}

/**
 * A byte-level vocabulary as a tokenizer.json in Llama 3's form: the regex Split (`pattern`, in the Rust syntax
 * that HF reads) then ByteLevel, BPE over `merges`, tokens spelled in GPT-2's byte alphabet; special tokens are
 * its added tokens.
 */
export function byteLevelTokenizerJson(v: ByteLevelBpeVocab & { merges: readonly (readonly [number, number])[] }, pattern: string): Record<string, unknown> {
  const special = new Set(v.specialIds);
  const spell = (id: number) => spellBytes(v.tokens[id]!);
  const text = (id: number) => new TextDecoder().decode(v.tokens[id]);
  const byteLevelStep = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false };
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [...special].map((id) => addedToken(id, text(id))),
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false }, byteLevelStep] },
    post_processor: v.bosId >= 0 ? bosFirst(text(v.bosId), v.bosId) : null,
    decoder: byteLevelStep,
    model: {
      ...BPE_DEFAULTS, unk_token: null, fuse_unk: false, byte_fallback: false, ignore_merges: v.wholeTokens,
      vocab: Object.fromEntries(v.tokens.map((_, id) => id).filter((id) => !special.has(id)).map((id) => [spell(id), id])),
      merges: v.merges.map(([a, b]) => [spell(a), spell(b)]),
    },
  };
}

/** tokenizer_config.json for transformers' PreTrainedTokenizerFast, naming BOS/EOS (and unk) by their text. */
export function tokenizerConfigJson(tokenizer: Tokenizer, modelMaxLength: number, unk?: string): Record<string, unknown> {
  const name = (id: number) => (id >= 0 ? tokenizer.decode([id]) || tokenizer.piece(id) : null);
  return {
    tokenizer_class: 'PreTrainedTokenizerFast', model_max_length: modelMaxLength, clean_up_tokenization_spaces: false,
    bos_token: name(tokenizer.bosId), eos_token: name(tokenizer.eosId), ...(unk ? { unk_token: unk } : {}),
    add_bos_token: tokenizer.bosId >= 0, add_eos_token: false,
  };
}

interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[]; ignore_merges?: boolean; byte_fallback?: boolean; unk_token?: string | null };
  added_tokens?: { id?: number; content?: string; special?: boolean }[];
  normalizer?: Component | null;
  pre_tokenizer?: Component | null;
  post_processor?: { type?: string; single?: { SpecialToken?: unknown }[] } | null;
}
interface Component {
  type?: string;
  pretokenizers?: Component[];
  normalizers?: Component[];
  pattern?: { Regex?: string; String?: string };
  behavior?: string;
  invert?: boolean;
  use_regex?: boolean;
  add_prefix_space?: boolean;
  replacement?: string;
  prepend_scheme?: string;
  split?: boolean;
  prepend?: string;
  content?: string;
}

/**
 * A Hugging Face tokenizer.json with a BPE model, in either LLaMA family: byte-level (a ByteLevel pre-tokenizer,
 * alone or after a regex Split, as Llama 3's) or SentencePiece-style (a Metaspace pre-tokenizer, or the older
 * Prepend + Replace normalizer, with byte fallback, as LLaMA 2's). Added tokens are special tokens (parseSpecial);
 * BOS and EOS come from `tokenizer_config.json` beside it, else from the family's usual names.
 */
export function readHfTokenizer(path: string): Tokenizer {
  const v = readHfVocab(path);
  return 'pieces' in v ? createSentencePieceBpe(v) : createByteLevelBpe(v);
}

/**
 * The vocabulary of a tokenizer.json (see readHfTokenizer). A SentencePiece-style one also gets scores from its
 * merges (the piece that merge k first makes scores -k), so that score-based BPE (a GGUF "llama" vocabulary)
 * merges in the same order.
 */
export function readHfVocab(path: string): SpmVocab | ByteLevelBpeVocab {
  return parseHfVocab(readFileSync(path, 'utf8'), path);
}

/** The vocabulary of a tokenizer.json's text (see readHfVocab); `path` names it in errors. */
export function parseHfVocab(text: string, path: string): SpmVocab | ByteLevelBpeVocab {
  let json: TokenizerJson;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new FormatError(path, 'JSON', 'a tokenizer.json', (e as Error).message);
  }
  const model = json.model;
  if (!model || typeof model.vocab !== 'object' || model.vocab === null || !Array.isArray(model.merges)) {
    throw new FormatError(path, 'model', 'an object with "vocab" and "merges"', JSON.stringify(model)?.slice(0, 80) ?? 'none');
  }
  if ((model.type ?? 'BPE') !== 'BPE') throw new UnsupportedError(path, 'model.type', `a ${model.type} model (LLaMA's are BPE)`);
  const pieces = piecesById(path, model.vocab, json.added_tokens ?? []);
  const specialIds = new Set((json.added_tokens ?? []).map((t) => t.id!));
  const idOf = new Map(pieces.map((p, id) => [p, id]));
  const merges = model.merges.map((m, k): [number, number] => {
    const pair = typeof m === 'string' ? splitMerge(m) : Array.isArray(m) && m.length === 2 ? m : undefined;
    const ids = pair?.map((p) => idOf.get(p as string));
    if (!ids || ids[0] === undefined || ids[1] === undefined) {
      throw new FormatError(path, `model.merges[${k}]`, 'two tokens of the vocabulary', JSON.stringify(m));
    }
    return [ids[0], ids[1]];
  });
  const special = specialTokenIds(path, json, idOf);
  const byteLevel = byteLevelPattern(json.pre_tokenizer);
  if (byteLevel !== undefined) {
    const encoder = new TextEncoder();
    const tokens = pieces.map((piece, id) => {
      if (specialIds.has(id)) return encoder.encode(piece);
      const bytes = unspellBytes(piece);
      if (!bytes) throw new FormatError(path, `model.vocab ${JSON.stringify(piece)}`, 'a token in the byte-level alphabet', 'other characters');
      return bytes;
    });
    const specials = special(['<|begin_of_text|>', '<|endoftext|>'], ['<|end_of_text|>', '<|endoftext|>']);
    return { tokens, specialIds: [...specialIds], merges, pattern: regexForJs(byteLevel), wholeTokens: model.ignore_merges ?? false, ...specials };
  }
  const metaspace = metaspaceScheme(path, json);
  const types = pieces.map((piece, id) => {
    if (piece === model.unk_token) return spmTokenType.unknown;
    if (specialIds.has(id)) return spmTokenType.control;
    return model.byte_fallback && /^<0x[0-9A-F]{2}>$/.test(piece) ? spmTokenType.byte : spmTokenType.normal;
  });
  const specials = special(['<s>'], ['</s>']);
  // Scores: merge results by merge order; the rest (characters, bytes, specials) below every merge.
  const scores = new Float32Array(pieces.length).fill(-merges.length);
  const scored = new Set<number>();
  merges.forEach(([a, b], k) => {
    const result = idOf.get(pieces[a]! + pieces[b]!);
    if (result !== undefined && !scored.has(result)) {
      scored.add(result);
      scores[result] = -k;
    }
  });
  return {
    pieces, types, scores, merges, ...specials,
    unkId: model.unk_token ? idOf.get(model.unk_token) ?? -1 : -1,
    addSpacePrefix: metaspace !== 'never', metaspace: metaspace === 'legacy' || metaspace === 'never' ? undefined : metaspace,
  };
}

/** Tokens by id: the model's vocabulary and the added tokens, ids 0..n-1 each once. */
function piecesById(path: string, vocab: Record<string, number>, added: TokenizerJson['added_tokens'] & object): string[] {
  const pieces: string[] = [];
  const put = (piece: string, id: unknown, field: string) => {
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > 1e7) throw new FormatError(path, field, 'a token id', JSON.stringify(id));
    const existing = pieces[id as number];
    if (existing !== undefined && existing !== piece) {
      throw new FormatError(path, field, 'each id once', `id ${id} for both ${JSON.stringify(existing)} and ${JSON.stringify(piece)}`);
    }
    pieces[id as number] = piece;
  };
  for (const [piece, id] of Object.entries(vocab)) put(piece, id, `model.vocab ${JSON.stringify(piece)}`);
  added.forEach((t, i) => put(String(t.content), t.id, `added_tokens[${i}]`));
  const gap = pieces.findIndex((p) => p === undefined);
  if (gap >= 0) throw new FormatError(path, 'model.vocab', `ids 0..${pieces.length - 1} without gaps`, `no token with id ${gap}`);
  return pieces;
}

/** "left right" (a merge in the older string form; tokens hold no spaces in either family). */
function splitMerge(merge: string): string[] | undefined {
  const parts = merge.split(' ');
  return parts.length === 2 ? parts : undefined;
}

/** BOS and EOS: tokenizer_config.json's bos_token / eos_token beside `path`, else the first of the usual names present. */
function specialTokenIds(path: string, json: TokenizerJson, idOf: Map<string, number>): (bos: string[], eos: string[]) => { bosId: number; eosId: number; addBos: boolean } {
  let config: Record<string, unknown> = {};
  const configPath = join(dirname(path), 'tokenizer_config.json');
  if (existsSync(configPath)) {
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new FormatError(configPath, 'JSON', 'a tokenizer_config.json', (e as Error).message);
    }
  }
  const named = (key: string, usual: string[]) => {
    const value = config[key] as string | { content?: string } | null | undefined;
    const name = typeof value === 'string' ? value : value?.content;
    if (name !== undefined) {
      const id = idOf.get(name);
      if (id === undefined) throw new FormatError(configPath, key, 'a token of tokenizer.json', JSON.stringify(name));
      return id;
    }
    if (value === null) return -1;
    return usual.map((u) => idOf.get(u)).find((id) => id !== undefined) ?? -1;
  };
  // add_bos_token when the config says it; else whether the post-processor puts a special token first.
  const addBos = typeof config['add_bos_token'] === 'boolean'
    ? config['add_bos_token']
    : json.post_processor?.type === 'TemplateProcessing' && json.post_processor.single?.[0]?.SpecialToken !== undefined;
  return (bos, eos) => {
    const bosId = named('bos_token', bos);
    return { bosId, eosId: named('eos_token', eos), addBos: addBos && bosId >= 0 };
  };
}

/**
 * The pre-tokenizer regex of a byte-level tokenizer.json, or undefined if it is not byte-level: a ByteLevel
 * pre-tokenizer (GPT-2's regex when `use_regex`, else none), alone or after one regex Split that isolates matches.
 */
function byteLevelPattern(pre: Component | null | undefined): string | undefined {
  const steps = pre?.type === 'Sequence' ? pre.pretokenizers ?? [] : pre ? [pre] : [];
  const last = steps[steps.length - 1];
  if (last?.type !== 'ByteLevel' || last.add_prefix_space) return undefined;
  if (steps.length === 1) return last.use_regex ? GPT2_PATTERN : String.raw`[\s\S]+`;
  const split = steps[0]!;
  if (steps.length === 2 && split.type === 'Split' && split.pattern?.Regex && split.behavior === 'Isolated' && !split.invert && !last.use_regex) {
    return split.pattern.Regex;
  }
  return undefined;
}

/**
 * How a SentencePiece-style tokenizer.json adds the '▁' prefix: a Metaspace pre-tokenizer ('always', 'first',
 * 'never'), or the older normalizer Sequence [Prepend '▁', Replace ' ' -> '▁'] ('legacy', SentencePiece's rule).
 */
function metaspaceScheme(path: string, json: TokenizerJson): 'always' | 'first' | 'never' | 'legacy' {
  const pre = json.pre_tokenizer, norm = json.normalizer;
  if (pre?.type === 'Metaspace' && !norm) {
    if (pre.replacement !== '\u2581' || pre.split) throw new UnsupportedError(path, 'pre_tokenizer', 'a Metaspace other than LLaMA\'s (replacement "▁", split false)');
    const scheme = pre.prepend_scheme ?? (pre.add_prefix_space === false ? 'never' : 'always');
    if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw new UnsupportedError(path, 'pre_tokenizer.prepend_scheme', JSON.stringify(scheme));
    return scheme;
  }
  const steps = norm?.type === 'Sequence' ? norm.normalizers ?? [] : [];
  const [prepend, replace] = steps;
  if (!pre && steps.length === 2 && prepend?.type === 'Prepend' && prepend.prepend === '\u2581' && replace?.type === 'Replace' && replace.pattern?.String === ' ' && replace.content === '\u2581') {
    return 'legacy';
  }
  throw new UnsupportedError(path, 'pre_tokenizer', `this pre-tokenizer/normalizer (${JSON.stringify({ pre_tokenizer: pre, normalizer: norm }).slice(0, 120)}); LLaMA's are ByteLevel, Metaspace, or Prepend + Replace`);
}
