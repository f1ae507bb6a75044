/**
 * SentencePiece BPE as LLaMA 1/2 use it: '▁' for space, a dummy-prefix '▁', byte fallback for characters that are
 * not pieces, and greedy merging of the adjacent pair whose concatenation is the highest-scoring piece.
 */
import { ArgumentError } from '../core/errors.js';
import { mergeListRules, MergeScratch, mergeSymbols, PairMap, type MergeRules, type Symbols } from './bpe-merge.js';
import { checkTokenId, specialTokenRegex, type EncodeOptions, type StreamDecoder, type Tokenizer } from './tokenizer.js';
import { createUtf8Stream, utf8Decode, utf8Encode } from './utf8-stream.js';

/** SentencePiece's piece types (ModelProto.SentencePiece.Type), as GGUF's `tokenizer.ggml.token_type` stores them. */
export const spmTokenType = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface SpmVocab {
  /** Pieces by id, spelling a space as '▁' (U+2581); byte-fallback pieces are `<0xHH>`. */
  pieces: string[];
  /** Merge priority: of the pairs that form a piece, the one with the highest score merges first. */
  scores: Float32Array | number[];
  /** One of `spmTokenType` per piece. */
  types: number[];
  /** -1 where the vocabulary has no such token. */
  bosId: number;
  eosId: number;
  unkId: number;
  /** Prepend '▁' to non-empty text (SentencePiece's add_dummy_prefix; true for LLaMA). */
  addSpacePrefix: boolean;
  /** Tokenizer.addBos; default: whether there is a BOS. */
  addBos?: boolean;
  /** Hugging Face's BPE: merge by this list of id pairs, best first, instead of by the score of the piece made. */
  merges?: readonly (readonly [number, number])[];
  /**
   * Hugging Face's Metaspace pre-tokenizer instead of SentencePiece's dummy prefix: no '▁' is prepended to text
   * that already starts with one (a space); with special tokens parsed, 'always' prefixes each stretch of text
   * between them, 'first' only the first. Absent: SentencePiece's rule (as llama.cpp applies it to parsed
   * specials: a prefix for each stretch).
   */
  metaspace?: 'always' | 'first';
}

const spaceSymbol = '\u2581';
/** SentencePiece's rendering of an unknown token. */
const unknownSurface = ' \u2047 ';

/** Lookup tables built once per vocabulary. */
interface Tables {
  vocab: SpmVocab;
  /** Normal and user-defined pieces: the only ones a code point or a merge may become. */
  mergeable: Map<string, number>;
  /** Merging: by score (see buildPairs) or by `vocab.merges`. */
  rules: MergeRules;
  /** Control, unknown and user-defined pieces' text, longest first (parseSpecial), or null if none. */
  specials: RegExp | null;
  specialIds: Map<string, number>;
  /** See wordsAreIndependent. */
  wordsAreIndependent: boolean;
  scratch: MergeScratch;
  /** Byte value to its `<0xHH>` id, -1 where the vocabulary lacks it. */
  byteIds: Int32Array;
  /** What each id decodes to, as UTF-8. */
  surfaces: Uint8Array[];
  /** Ids whose piece starts with the dummy-prefix space that decoding drops at the start of the text. */
  dummyPrefixed: Uint8Array;
}

export interface SentencePieceBpe extends Tokenizer {
  /** Heap moves made by merging since creation: the work measure of the O(n log n) test. */
  readonly mergeSteps: number;
}

export function createSentencePieceBpe(vocab: SpmVocab): SentencePieceBpe {
  validateVocab(vocab);
  const t = buildTables(vocab);
  const vocabSize = vocab.pieces.length;
  return {
    vocabSize,
    bosId: vocab.bosId,
    addBos: vocab.addBos ?? vocab.bosId >= 0,
    eosId: vocab.eosId,
    encode: (text, options) => encode(t, text, options),
    decode: (ids) => decode(t, ids),
    piece: (id) => vocab.pieces[checkTokenId(id, vocabSize)]!,
    createDecoder: () => createStreamDecoder(t),
    get mergeSteps() {
      return t.scratch.heapSteps;
    },
  };
}

function validateVocab(v: SpmVocab): void {
  const n = v.pieces.length;
  if (v.scores.length !== n) throw new ArgumentError('vocab.scores', `${n} scores (one per piece)`, `${v.scores.length}`);
  if (v.types.length !== n) throw new ArgumentError('vocab.types', `${n} types (one per piece)`, `${v.types.length}`);
  const badType = v.types.findIndex((type) => !Number.isInteger(type) || type < 1 || type > 6);
  if (badType >= 0) throw new ArgumentError(`vocab.types[${badType}]`, 'a piece type 1..6', String(v.types[badType]));
  for (const name of ['bosId', 'eosId', 'unkId'] as const) {
    const id = v[name];
    if (!Number.isInteger(id) || id < -1 || id >= n) throw new ArgumentError(`vocab.${name}`, `-1 or an id in [0, ${n})`, String(id));
  }
}

function buildTables(vocab: SpmVocab): Tables {
  const n = vocab.pieces.length;
  const mergeable = new Map<string, number>();
  const byteIds = new Int32Array(256).fill(-1);
  const surfaces = new Array<Uint8Array>(n);
  const dummyPrefixed = new Uint8Array(n);
  const empty = new Uint8Array(0);
  vocab.pieces.forEach((piece, id) => {
    const type = vocab.types[id];
    const byte = type === spmTokenType.byte ? /^<0x([0-9A-Fa-f]{2})>$/.exec(piece) : null;
    if (byte) byteIds[parseInt(byte[1]!, 16)] = id;
    // The first of duplicate pieces wins, as a lookup by piece in SentencePiece would.
    if ((type === spmTokenType.normal || type === spmTokenType.userDefined) && !mergeable.has(piece)) mergeable.set(piece, id);
    if (type === spmTokenType.control) surfaces[id] = empty;
    else if (type === spmTokenType.unknown) surfaces[id] = utf8Encode(unknownSurface);
    else if (byte) surfaces[id] = Uint8Array.of(parseInt(byte[1]!, 16));
    else surfaces[id] = utf8Encode(piece.replaceAll(spaceSymbol, ' '));
    dummyPrefixed[id] = Number(vocab.addSpacePrefix && !byte && type !== spmTokenType.unknown && piece.startsWith(spaceSymbol));
  });
  return {
    vocab, mergeable, byteIds, surfaces, dummyPrefixed,
    rules: vocab.merges ? listRules(vocab.merges, vocab.pieces, mergeable) : scoreRules(buildPairs(mergeable), vocab),
    ...specialTexts(vocab),
    wordsAreIndependent: wordsAreIndependent(mergeable),
    scratch: new MergeScratch(),
  };
}

// ---- Encoding ----

function encode(t: Tables, text: string, options: EncodeOptions = {}): number[] {
  const { bosId, eosId } = t.vocab;
  if (options.bos && bosId < 0) throw new ArgumentError('options.bos', 'a vocabulary with a BOS token', 'none');
  if (options.eos && eosId < 0) throw new ArgumentError('options.eos', 'a vocabulary with an EOS token', 'none');
  const ids: number[] = options.bos ? [bosId] : [];
  const seen = new Map<string, number[]>();
  // UTF-8 cannot hold an unpaired surrogate: it is the character U+FFFD, as TextEncoder makes it.
  text = text.replace(/\p{Surrogate}/gu, '\uFFFD');
  if (options.parseSpecial && t.specials) {
    let from = 0, first = true;
    for (const m of text.matchAll(t.specials)) {
      first = encodeText(t, text.slice(from, m.index), first, ids, seen);
      ids.push(t.specialIds.get(m[0])!);
      from = m.index! + m[0].length;
    }
    encodeText(t, text.slice(from), first, ids, seen);
  } else {
    encodeText(t, text, true, ids, seen);
  }
  if (options.eos) ids.push(eosId);
  return ids;
}

/** Text without special tokens, appended to `ids`; returns whether the next stretch is still the first. */
function encodeText(t: Tables, text: string, first: boolean, ids: number[], seen: Map<string, number[]>): boolean {
  if (text === '') return first;
  const { addSpacePrefix, metaspace } = t.vocab;
  let normalized = text.replaceAll(' ', spaceSymbol);
  const prefix = addSpacePrefix && (metaspace !== 'first' || first) && !(metaspace && normalized.startsWith(spaceSymbol));
  if (prefix) normalized = spaceSymbol + normalized;
  const words = t.wordsAreIndependent ? normalized.match(wordPattern)! : [normalized];
  for (const word of words) {
    let wordIds = seen.get(word);
    if (!wordIds) seen.set(word, (wordIds = encodeWord(t, word)));
    for (const id of wordIds) ids.push(id);
  }
  return false;
}

/** A run of '▁' and the non-'▁' text after it (or a final run of '▁'): the unit of `wordsAreIndependent`. */
export const wordPattern = /\u2581*[^\u2581]+|\u2581+/g;

/**
 * Whether no mergeable piece has a '▁' right after a character other than '▁' (true of LLaMA's vocabulary).
 * Then no merge can span the start of a word of `wordPattern`, BPE on the whole text equals BPE on each word,
 * and a word that repeats is encoded once.
 */
function wordsAreIndependent(mergeable: Map<string, number>): boolean {
  for (const piece of mergeable.keys()) if (/[^\u2581]\u2581/.test(piece)) return false;
  return true;
}

function encodeWord(t: Tables, word: string): number[] {
  const symbols = splitCodePoints(t, word);
  mergeSymbols(t.scratch, t.rules);
  return emitIds(t, word, symbols);
}

/** SentencePiece's rule: a pair merges into the piece it spells, the highest-scoring piece first. */
function scoreRules(pairs: PairMap, vocab: SpmVocab): MergeRules {
  return { find: (left, right) => pairs.get(left, right), score: (id) => vocab.scores[id]!, result: (id) => id };
}

/** Hugging Face's rule: merge k of the list joins its pair into the piece they spell; earlier merges first. */
function listRules(merges: readonly (readonly [number, number])[], pieces: string[], mergeable: Map<string, number>): MergeRules {
  return mergeListRules(merges, (left, right, k) => {
    const result = mergeable.get(pieces[left]! + pieces[right]!);
    if (result === undefined) throw new ArgumentError(`vocab.merges[${k}]`, 'a pair whose joined text is a piece', `${JSON.stringify(pieces[left])} + ${JSON.stringify(pieces[right])}`);
    return result;
  });
}

/** The text of control, unknown and user-defined pieces, which parseSpecial recognises as the piece. */
function specialTexts(vocab: SpmVocab): { specials: RegExp | null; specialIds: Map<string, number> } {
  const specialIds = new Map<string, number>();
  vocab.types.forEach((type, id) => {
    const special = type === spmTokenType.control || type === spmTokenType.unknown || type === spmTokenType.userDefined;
    if (special && vocab.pieces[id] !== '' && !specialIds.has(vocab.pieces[id]!)) specialIds.set(vocab.pieces[id]!, id);
  });
  return { specials: specialTokenRegex(specialIds.keys()), specialIds };
}

/**
 * Every way to write a mergeable piece as two mergeable pieces: key `left * vocabSize + right` to the piece's id.
 * Two adjacent symbols merge exactly when their ids form a key, so merging never builds or hashes strings.
 */
function buildPairs(mergeable: Map<string, number>): PairMap {
  const pairs = new PairMap();
  for (const [piece, id] of mergeable) {
    for (let k = 1; k < piece.length; k++) {
      const left = mergeable.get(piece.slice(0, k));
      const right = mergeable.get(piece.slice(k));
      if (left !== undefined && right !== undefined) pairs.setIfAbsent(left, right, id);
    }
  }
  return pairs;
}

/** The code points of `text` as symbols (in the scratch): each one's piece id, -1 where it is no piece. */
function splitCodePoints(t: Tables, text: string): Symbols {
  let n = 0;
  for (let i = 0; i < text.length; n++) i += text.codePointAt(i)! > 0xffff ? 2 : 1;
  const s = t.scratch.reset(n);
  for (let i = 0, k = 0; i < text.length; k++) {
    const width = text.codePointAt(i)! > 0xffff ? 2 : 1;
    s.start[k] = i;
    s.id[k] = t.mergeable.get(text.slice(i, i + width)) ?? -1;
    i += width;
  }
  return s;
}

/** The ids of the surviving symbols; a code point that is no piece becomes its UTF-8 bytes' tokens, else unk. */
function emitIds(t: Tables, text: string, s: Symbols): number[] {
  const out: number[] = [];
  for (let i = 0; i >= 0; i = s.next[i]!) {
    if (s.id[i]! >= 0) {
      out.push(s.id[i]!);
      continue;
    }
    const codePoint = text.codePointAt(s.start[i]!)!;
    const byteIds = Array.from(utf8Encode(String.fromCodePoint(codePoint)), (b) => t.byteIds[b]!);
    if (byteIds.every((id) => id >= 0)) out.push(...byteIds);
    else if (t.vocab.unkId >= 0) out.push(t.vocab.unkId);
    else throw unspellable(codePoint);
  }
  return out;
}

function unspellable(codePoint: number): ArgumentError {
  const found = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  return new ArgumentError('text', 'characters that the vocabulary can spell (it has no byte pieces and no unk)', found);
}

// ---- Decoding ----

/**
 * The bytes that `id` contributes. `atStart` is true while only control tokens came before: there SentencePiece
 * drops the space of a leading '▁', the dummy prefix that encoding added.
 */
function surface(t: Tables, id: number, atStart: boolean): Uint8Array {
  const bytes = t.surfaces[checkTokenId(id, t.surfaces.length)]!;
  return atStart && t.dummyPrefixed[id] ? bytes.subarray(1) : bytes;
}

function stillAtStart(t: Tables, id: number, atStart: boolean): boolean {
  return atStart && t.vocab.types[id] === spmTokenType.control;
}

function decode(t: Tables, ids: readonly number[]): string {
  const parts: Uint8Array[] = [];
  let atStart = true;
  let total = 0;
  for (const id of ids) {
    const bytes = surface(t, id, atStart);
    atStart = stillAtStart(t, id, atStart);
    parts.push(bytes);
    total += bytes.length;
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    all.set(p, offset);
    offset += p.length;
  }
  return utf8Decode(all);
}

function createStreamDecoder(t: Tables): StreamDecoder {
  const stream = createUtf8Stream();
  let atStart = true;
  return {
    push(id) {
      const bytes = surface(t, id, atStart);
      atStart = stillAtStart(t, id, atStart);
      return stream.write(bytes);
    },
    flush: () => stream.end(),
  };
}
