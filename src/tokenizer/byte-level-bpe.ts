/**
 * Byte-level BPE as LLaMA 3 uses it (tiktoken; Hugging Face's ByteLevel BPE; GGUF's `gpt2` model): a regex splits
 * the text into pre-tokens, each pre-token's UTF-8 bytes start as one symbol per byte, and adjacent symbols merge,
 * best pair first, until none merges. Every byte is a token, so any text encodes and decoding is lossless.
 */
import { ArgumentError } from '../core/errors.js';
import { mergeListRules, MergeScratch, mergeSymbols, PairMap, pushSymbolIds, type MergeRules } from './bpe-merge.js';
import { checkTokenId, specialTokenRegex, type EncodeOptions, type StreamDecoder, type Tokenizer } from './tokenizer.js';
import { createUtf8Stream, utf8Decode } from './utf8-stream.js';

export interface ByteLevelBpeVocab {
  /** The bytes of each id; a special token's entry is its text. */
  tokens: Uint8Array[];
  /** The special tokens: never made by merging; recognised in text only when asked for (`parseSpecial`). */
  specialIds: number[];
  /**
   * Which pairs merge first. 'ranks' (tiktoken): two adjacent tokens whose bytes together spell a token merge into
   * it, the lowest id first. Else the explicit merges (left id, right id), first = best (Hugging Face, GGUF).
   */
  merges: 'ranks' | readonly (readonly [number, number])[];
  /** The pre-tokenizer regex, in JavaScript syntax for the `v` flag (see `regexForJs`). */
  pattern: string;
  /** A pre-token that is one whole token becomes it without merging (tiktoken always; HF's `ignore_merges`). */
  wholeTokens: boolean;
  /** -1 where the vocabulary has none. */
  bosId: number;
  eosId: number;
  /** Tokenizer.addBos; default: whether there is a BOS. */
  addBos?: boolean;
}

/**
 * Meta's Llama 3 pre-tokenizer (`pat_str` of llama/tokenizer.py): contractions, letters with one leading
 * non-letter, numbers of up to 3 digits, punctuation runs, newlines, whitespace.
 */
export const LLAMA3_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** GPT-2's pre-tokenizer regex (a ByteLevel pre-tokenizer's `use_regex`; llama.cpp's "default" for gpt2 vocabularies). */
export const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;

/**
 * The letters and numbers that Unicode 17.0 added. The references' regex engines (Rust's regex crate in tiktoken
 * and HF `tokenizers`) carry Unicode 16.0 tables, where these are unassigned (so neither \p{L} nor \p{N});
 * JavaScript engines with Unicode 17 data know them. Found by probing both references on every code point
 * (test/fixtures/tokenizer-fuzz/probe_letters.py).
 */
const UNICODE_17_LETTERS = String.raw`\u{88F}\u{C5C}\u{CDC}\u{A7CE}-\u{A7CF}\u{A7D2}\u{A7D4}\u{A7F1}\u{10940}-\u{10959}\u{10EC5}-\u{10EC7}\u{11DB0}-\u{11DDB}\u{11DE0}-\u{11DE9}\u{16EA0}-\u{16EB8}\u{16EBB}-\u{16ED3}\u{16FF2}-\u{16FF6}\u{187F8}-\u{187FF}\u{18D09}-\u{18D1E}\u{18D80}-\u{18DF2}\u{1E6C0}-\u{1E6DE}\u{1E6E0}-\u{1E6E2}\u{1E6E4}-\u{1E6E5}\u{1E6E7}-\u{1E6ED}\u{1E6F0}-\u{1E6F4}\u{1E6FE}-\u{1E6FF}\u{2B73A}-\u{2B73F}\u{2CEA2}-\u{2CEAD}\u{323B0}-\u{33479}`;

const unicode17Letter = new RegExp(`[${UNICODE_17_LETTERS}]`, 'v');

/**
 * A pre-tokenizer regex written for Rust's regex crate (tiktoken, HF `tokenizers`) as a JavaScript regex for the
 * `v` flag that matches the same: `\s` is Unicode White_Space there (JavaScript's also takes U+FEFF and leaves out
 * U+0085); `(?i:...)` has no JavaScript form, so its letters become case classes (with Unicode's simple case
 * folding: `s` also matches U+017F LATIN SMALL LETTER LONG S, `k` U+212A KELVIN SIGN); and \p{L}, \p{N} leave out
 * what Unicode 17 added, which those engines do not know yet.
 */
export function regexForJs(pattern: string): string {
  const folded: Record<string, string> = { s: 'sS\u017f', k: 'kK\u212a' };
  const caseless = (group: string) => group.replace(/\\.|[a-zA-Z]/g, (c) => c.length > 1 ? c : `[${folded[c.toLowerCase()] ?? c.toLowerCase() + c.toUpperCase()}]`);
  return pattern
    .replace(/\(\?i:((?:\\.|[^()])*)\)/g, (_, group: string) => `(?:${caseless(group)})`)
    .replace(/\\\\|\\s|\\S|\\p\{[LN]\}/g, (m) => {
      if (m === '\\s') return '\\p{White_Space}';
      if (m === '\\S') return '\\P{White_Space}';
      if (m.startsWith('\\p')) return `[${m}--[${UNICODE_17_LETTERS}]]`;
      return m;
    });
}

/**
 * GPT-2's byte-level alphabet, in which Hugging Face and GGUF spell byte-level tokens: printable bytes stand for
 * themselves, the other 68 for U+0100.. in byte order, so every byte is one visible character.
 */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let next = 0x100;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

const alphabet = byteLevelAlphabet();
const fromAlphabet = new Map(alphabet.map((c, b) => [c, b]));

/** A token's bytes spelled in GPT-2's byte alphabet (`Ġhello`), as Hugging Face and GGUF store it. */
export function spellBytes(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => alphabet[b]).join('');
}

/** The bytes a GPT-2-alphabet spelling stands for, or null if it holds another character. */
export function unspellBytes(spelling: string): Uint8Array | null {
  const bytes = Array.from(spelling, (c) => fromAlphabet.get(c) ?? -1);
  return bytes.includes(-1) ? null : Uint8Array.from(bytes);
}

/** Bytes as a string of one char per byte: a cheap key to slice, join and hash. */
export function byteString(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/**
 * Every way to write a token as two tokens, given the ordinary tokens' ids by byte string (byteString): [left,
 * right, token], by token id, then by the halves' ids. tiktoken's merge rule in list form.
 */
export function twoTokenSplits(byBytes: Map<string, number>): [number, number, number][] {
  const splits: [number, number, number][] = [];
  for (const [key, id] of [...byBytes].sort((a, b) => a[1] - b[1])) {
    const local: [number, number, number][] = [];
    for (let k = 1; k < key.length; k++) {
      const left = byBytes.get(key.slice(0, k)), right = byBytes.get(key.slice(k));
      if (left !== undefined && right !== undefined) local.push([left, right, id]);
    }
    splits.push(...local.sort((x, y) => x[0] - y[0] || x[1] - y[1]));
  }
  return splits;
}

export interface ByteLevelBpe extends Tokenizer {
  /** Heap moves made by merging since creation: the work measure of the O(n log n) test. */
  readonly mergeSteps: number;
}

export function createByteLevelBpe(vocab: ByteLevelBpeVocab): ByteLevelBpe {
  const t = buildTables(vocab);
  const vocabSize = vocab.tokens.length;
  return {
    vocabSize,
    bosId: vocab.bosId,
    addBos: vocab.addBos ?? vocab.bosId >= 0,
    eosId: vocab.eosId,
    get mergeSteps() {
      return t.scratch.heapSteps;
    },
    encode: (text, options) => encode(t, text, options),
    decode: (ids) => utf8Decode(concatBytes(ids.map((id) => t.vocab.tokens[checkTokenId(id, vocabSize)]!))),
    piece: (id) => spellBytes(vocab.tokens[checkTokenId(id, vocabSize)]!),
    createDecoder: (): StreamDecoder => {
      const stream = createUtf8Stream();
      return { push: (id) => stream.write(vocab.tokens[checkTokenId(id, vocabSize)]!), flush: () => stream.end() };
    },
  };
}

interface Tables {
  vocab: ByteLevelBpeVocab;
  pattern: RegExp;
  /**
   * The same without leaving out Unicode 17's letters, for text that has none (nearly all): V8 runs the class
   * subtraction ~1.7x slower, and the regex is most of the encoding time.
   */
  fastPattern: RegExp;
  /** Special tokens' text (specialTokenRegex), or null if none. */
  specials: RegExp | null;
  specialIds: Map<string, number>;
  /** Ordinary tokens that are valid UTF-8, by their text: the whole-token lookup. */
  byText: Map<string, number>;
  byteIds: Int32Array;
  rules: MergeRules;
  scratch: MergeScratch;
}

function buildTables(vocab: ByteLevelBpeVocab): Tables {
  const n = vocab.tokens.length;
  for (const name of ['bosId', 'eosId'] as const) {
    const id = vocab[name];
    if (!Number.isInteger(id) || id < -1 || id >= n) throw new ArgumentError(`vocab.${name}`, `-1 or an id in [0, ${n})`, String(id));
  }
  const special = new Set(vocab.specialIds);
  const specialIds = new Map<string, number>();
  for (const id of special) {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new ArgumentError('vocab.specialIds', `ids in [0, ${n})`, String(id));
    specialIds.set(utf8Decode(vocab.tokens[id]!), id);
  }
  // Keys are the tokens' bytes as one char per byte ("binary" strings): cheap to slice and hash.
  const byBytes = new Map<string, number>();
  const byText = new Map<string, number>();
  const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  vocab.tokens.forEach((bytes, id) => {
    if (special.has(id)) return;
    const key = byteString(bytes);
    if (byBytes.has(key)) throw new ArgumentError(`vocab.tokens[${id}]`, 'tokens with distinct bytes', `the bytes of token ${byBytes.get(key)}`);
    byBytes.set(key, id);
    try {
      byText.set(strict.decode(bytes), id);
    } catch {
      // Not UTF-8 on its own (part of a character): no whole pre-token can be this token.
    }
  });
  const byteIds = new Int32Array(256).fill(-1);
  for (let b = 0; b < 256; b++) byteIds[b] = byBytes.get(String.fromCharCode(b)) ?? -1;
  return {
    vocab,
    pattern: new RegExp(vocab.pattern, 'gv'),
    fastPattern: new RegExp(vocab.pattern.replaceAll(`--[${UNICODE_17_LETTERS}]`, ''), 'gv'),
    specials: specialTokenRegex(specialIds.keys()),
    specialIds,
    byText,
    byteIds,
    rules: vocab.merges === 'ranks' ? rankRules(byBytes) : listRules(vocab.merges, vocab.tokens, byBytes),
    scratch: new MergeScratch(),
  };
}

/** tiktoken's rule: a pair merges into the token that its bytes spell, and a lower id (rank) merges first. */
function rankRules(byBytes: Map<string, number>): MergeRules {
  const pairs = new PairMap();
  for (const [left, right, id] of twoTokenSplits(byBytes)) pairs.setIfAbsent(left, right, id);
  return { find: (left, right) => pairs.get(left, right), score: (id) => -id, result: (id) => id };
}

/** An explicit merge list: merge k joins its pair into the token of their bytes; earlier merges first. */
function listRules(merges: readonly (readonly [number, number])[], tokens: Uint8Array[], byBytes: Map<string, number>): MergeRules {
  const n = tokens.length;
  return mergeListRules(merges, (left, right, k) => {
    for (const id of [left, right]) {
      if (!Number.isInteger(id) || id < 0 || id >= n) throw new ArgumentError(`merges[${k}]`, `token ids in [0, ${n})`, String(id));
    }
    const result = byBytes.get(byteString(tokens[left]!) + byteString(tokens[right]!));
    if (result === undefined) throw new ArgumentError(`merges[${k}]`, 'a pair whose joined bytes are a token', `${left} + ${right}, which is none`);
    return result;
  });
}

// ---- Encoding ----

function encode(t: Tables, text: string, options: EncodeOptions = {}): number[] {
  // BOS/EOS requests add nothing when the vocabulary has none, as with a Hugging Face tokenizer without them.
  const { bosId, eosId } = t.vocab;
  const ids: number[] = options.bos && bosId >= 0 ? [bosId] : [];
  // UTF-8 cannot hold an unpaired surrogate: it is encoded as U+FFFD, as TextEncoder does.
  const wellFormed = text.replace(/\p{Surrogate}/gu, '\uFFFD');
  const cache = new Map<string, number[]>();
  if (options.parseSpecial && t.specials) {
    let from = 0;
    for (const m of wellFormed.matchAll(t.specials)) {
      encodeOrdinary(t, wellFormed.slice(from, m.index), ids, cache);
      ids.push(t.specialIds.get(m[0])!);
      from = m.index! + m[0].length;
    }
    encodeOrdinary(t, wellFormed.slice(from), ids, cache);
  } else {
    encodeOrdinary(t, wellFormed, ids, cache);
  }
  if (options.eos && eosId >= 0) ids.push(eosId);
  return ids;
}

/** Text without special tokens: each pre-token the regex finds (text it skips is dropped, as tiktoken does). */
function encodeOrdinary(t: Tables, text: string, out: number[], cache: Map<string, number[]>): void {
  for (const [piece] of text.matchAll(unicode17Letter.test(text) ? t.pattern : t.fastPattern)) {
    const whole = t.vocab.wholeTokens ? t.byText.get(piece) : undefined;
    if (whole !== undefined) {
      out.push(whole);
      continue;
    }
    let ids = cache.get(piece);
    if (!ids) cache.set(piece, (ids = encodePiece(t, piece)));
    for (const id of ids) out.push(id);
  }
}

/** One pre-token: its UTF-8 bytes as byte tokens, merged. */
function encodePiece(t: Tables, piece: string): number[] {
  const s = t.scratch.reset(utf8Length(piece));
  let k = 0;
  const put = (byte: number) => {
    const id = t.byteIds[byte]!;
    if (id < 0) throw new ArgumentError('text', 'bytes that the vocabulary can spell (it lacks a byte token)', `byte 0x${byte.toString(16)}`);
    s.id[k++] = id;
  };
  for (const char of piece) {
    const c = char.codePointAt(0)!;
    if (c < 0x80) put(c);
    else if (c < 0x800) { put(0xc0 | (c >> 6)); put(0x80 | (c & 63)); }
    else if (c < 0x10000) { put(0xe0 | (c >> 12)); put(0x80 | ((c >> 6) & 63)); put(0x80 | (c & 63)); }
    else { put(0xf0 | (c >> 18)); put(0x80 | ((c >> 12) & 63)); put(0x80 | ((c >> 6) & 63)); put(0x80 | (c & 63)); }
  }
  mergeSymbols(t.scratch, t.rules);
  const ids: number[] = [];
  pushSymbolIds(s, ids);
  return ids;
}

/** UTF-8 length of well-formed text. */
function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return all;
}
