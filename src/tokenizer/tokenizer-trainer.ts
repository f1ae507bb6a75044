/**
 * Training a LLaMA tokenizer from text, in either family:
 *  - 'sentencepiece' (LLaMA 1/2's way): each line gets the dummy prefix and '▁' for spaces; words start at a '▁';
 *    digits never merge (split digits); characters outside the 99.995% most frequent are left to byte fallback;
 *    pieces are at most 16 characters. The vocabulary: <unk> <s> </s>, the 256 byte pieces, the merged pieces
 *    best first, then the characters.
 *  - 'byte-level' (LLaMA 3's way): words are the pre-tokens of Meta's regex, symbols their UTF-8 bytes; the
 *    vocabulary: the 256 bytes, the merges, then <|begin_of_text|> and <|end_of_text|>.
 * Text is read as a stream of lines and only word counts are kept, so memory follows the number of distinct
 * words, not the input size (beyond `maxWords` distinct words, the words seen once are dropped).
 */
import { ArgumentError } from '../core/errors.js';
import { byteString, createByteLevelBpe, LLAMA3_PATTERN, regexForJs, type ByteLevelBpeVocab } from './byte-level-bpe.js';
import { learnMerges, type WordSymbols } from './train-bpe.js';
import { createSentencePieceBpe, spmTokenType, wordPattern, type SpmVocab } from './sentencepiece-bpe.js';
import type { Tokenizer } from './tokenizer.js';

export type TokenizerFamily = 'sentencepiece' | 'byte-level';

export interface TrainedTokenizer {
  family: TokenizerFamily;
  tokenizer: Tokenizer;
  /** Exactly one is set, by family. */
  spm?: SpmVocab & { merges: [number, number][] };
  byteLevel?: ByteLevelBpeVocab & { merges: [number, number][] };
}

const SPACE = '\u2581';
const CHARACTER_COVERAGE = 0.99995;
const MAX_PIECE_LENGTH = 16;

/**
 * What SentencePiece's trainer checks of a piece (IsValidSentencePiece, with LLaMA's options): at most 16
 * characters; one Unicode script (Hiragana and Katakana count as Han; '▁' as any script); '▁' only at the start,
 * unless the piece is all '▁'; digits alone (split digits: a digit never joins, see `describe`).
 */
interface PieceShape {
  length: number;
  /** The script of its characters other than '▁'; null when it has none. */
  script: string | null;
  hasSpace: boolean;
  allSpace: boolean;
}

function joinShapes(a: PieceShape, b: PieceShape): PieceShape | null {
  if (a.length + b.length > MAX_PIECE_LENGTH) return null;
  const allSpace = a.allSpace && b.allSpace;
  // Unless all '▁', a piece has '▁' only first: b holds none, and a is one '▁' or holds none.
  if (!allSpace && (b.hasSpace || (a.allSpace && a.length > 1))) return null;
  if (a.script !== null && b.script !== null && a.script !== b.script) return null;
  return { length: a.length + b.length, script: a.script ?? b.script, hasSpace: a.hasSpace || b.hasSpace, allSpace };
}

const SCRIPTS = ['Latin', 'Common', 'Inherited', 'Greek', 'Cyrillic', 'Armenian', 'Hebrew', 'Arabic', 'Syriac', 'Thaana',
  'Devanagari', 'Bengali', 'Gurmukhi', 'Gujarati', 'Oriya', 'Tamil', 'Telugu', 'Kannada', 'Malayalam', 'Sinhala', 'Thai',
  'Lao', 'Tibetan', 'Myanmar', 'Georgian', 'Hangul', 'Ethiopic', 'Cherokee', 'Khmer', 'Mongolian', 'Han', 'Hiragana',
  'Katakana', 'Bopomofo', 'Yi'].map((name) => [name, new RegExp(`^\\p{Script=${name}}$`, 'u')] as const);

function shapeOf(char: string): PieceShape {
  if (char === SPACE) return { length: 1, script: null, hasSpace: true, allSpace: true };
  let script = SCRIPTS.find(([, re]) => re.test(char))?.[0] ?? `U+${char.codePointAt(0)!.toString(16)}`;
  if (script === 'Hiragana' || script === 'Katakana' || char === '\u30fc') script = 'Han';
  return { length: 1, script, hasSpace: false, allSpace: false };
}

/** Counts words line by line: `add` each line (without its newline), then pass it to trainTokenizer. */
export class WordCounter {
  readonly counts = new Map<string, number>();
  private readonly pattern: RegExp;

  constructor(
    readonly family: TokenizerFamily,
    private readonly maxWords = 8_000_000,
  ) {
    // SentencePiece-style words are the encoder's (a '▁' run and what follows), so training and encoding split alike.
    this.pattern = family === 'sentencepiece' ? wordPattern : new RegExp(regexForJs(LLAMA3_PATTERN), 'gv');
  }

  add(line: string): void {
    if (line === '') return;
    const text = this.family === 'sentencepiece' ? SPACE + line.replaceAll(' ', SPACE) : line;
    for (const [word] of text.matchAll(this.pattern)) this.counts.set(word, (this.counts.get(word) ?? 0) + 1);
    if (this.counts.size > this.maxWords) for (const [word, n] of this.counts) if (n === 1) this.counts.delete(word);
  }
}

export function trainTokenizer(words: WordCounter, vocabSize: number, onMerge?: (done: number, total: number) => void): TrainedTokenizer {
  return words.family === 'sentencepiece' ? trainSentencePiece(words.counts, vocabSize, onMerge) : trainByteLevel(words.counts, vocabSize, onMerge);
}

function trainSentencePiece(counts: Map<string, number>, vocabSize: number, onMerge?: (done: number, total: number) => void): TrainedTokenizer {
  // The alphabet: characters by frequency until they cover 99.995% of all; the rest are left to byte fallback.
  const charCounts = new Map<string, number>();
  let total = 0;
  for (const [word, n] of counts) for (const c of word) {
    charCounts.set(c, (charCounts.get(c) ?? 0) + n);
    total += n;
  }
  const chars: string[] = [];
  let covered = 0;
  for (const [c, n] of [...charCounts].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))) {
    if (covered >= CHARACTER_COVERAGE * total) break;
    chars.push(c);
    covered += n;
  }
  const fixed = 3 + 256;
  const mergeCount = vocabSize - fixed - chars.length;
  if (mergeCount < 0) throw new ArgumentError('--vocab-size', `at least ${fixed + chars.length} (3 specials, 256 bytes, ${chars.length} characters)`, String(vocabSize));
  // Symbols: 0..chars-1 the characters, chars.length = a character left to byte fallback (never merges).
  const charId = new Map(chars.map((c, i) => [c, i]));
  const rare = chars.length;
  const wordList: WordSymbols[] = [...counts].map(([word, count]) => ({ symbols: Array.from(word, (c) => charId.get(c) ?? rare), count }));
  const merges = learnMerges<PieceShape>(wordList, {
    symbolCount: chars.length + 1, merges: mergeCount,
    describe: (s) => (s === rare || /^[0-9]$/.test(chars[s]!) ? null : shapeOf(chars[s]!)),
    join: joinShapes,
    onMerge: onMerge && ((done) => onMerge(done, mergeCount)),
  });
  // Vocabulary ids: specials, bytes, merged pieces (best first), characters.
  const text: string[] = [...chars, ''];
  for (const [a, b] of merges) text.push(text[a]! + text[b]!);
  const pieces = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)];
  const types: number[] = [spmTokenType.unknown, spmTokenType.control, spmTokenType.control, ...Array<number>(256).fill(spmTokenType.byte)];
  const scores: number[] = Array<number>(fixed).fill(0);
  // Two merges can spell the same piece (ab+c, a+bc): it gets one id, which both merges make.
  const idOfText = new Map<string, number>();
  const idOf = (symbol: number) => {
    let id = idOfText.get(text[symbol]!);
    if (id === undefined) {
      idOfText.set(text[symbol]!, (id = pieces.length));
      pieces.push(text[symbol]!);
      types.push(spmTokenType.normal);
      scores.push(-(pieces.length - 1 - fixed));
    }
    return id;
  };
  merges.forEach((_, k) => idOf(chars.length + 1 + k));
  chars.forEach((_, i) => idOf(i));
  const vocab = {
    pieces, scores, types, bosId: 1, eosId: 2, unkId: 0, addSpacePrefix: true,
    merges: merges.map(([a, b]): [number, number] => [idOf(a), idOf(b)]),
  };
  return { family: 'sentencepiece', tokenizer: createSentencePieceBpe(vocab), spm: vocab };
}

function trainByteLevel(counts: Map<string, number>, vocabSize: number, onMerge?: (done: number, total: number) => void): TrainedTokenizer {
  const specials = ['<|begin_of_text|>', '<|end_of_text|>'];
  const mergeCount = vocabSize - 256 - specials.length;
  if (mergeCount < 0) throw new ArgumentError('--vocab-size', `at least ${256 + specials.length} (256 bytes, 2 specials)`, String(vocabSize));
  const encoder = new TextEncoder();
  const wordList: WordSymbols[] = [...counts].map(([word, count]) => ({ symbols: Array.from(encoder.encode(word)), count }));
  const merges = learnMerges(wordList, { symbolCount: 256, merges: mergeCount, onMerge: onMerge && ((done) => onMerge(done, mergeCount)) });
  const tokens: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  // Symbol ids to token ids; two merges can spell the same bytes (ab+c, a+bc): one id, made by both.
  const idOf = Array.from({ length: 256 }, (_, b) => b);
  const idOfBytes = new Map<string, number>(tokens.map((t, b) => [byteString(t), b]));
  for (const [a, b] of merges) {
    const bytes = Uint8Array.from([...tokens[idOf[a]!]!, ...tokens[idOf[b]!]!]);
    const key = byteString(bytes);
    let id = idOfBytes.get(key);
    if (id === undefined) idOfBytes.set(key, (id = tokens.push(bytes) - 1));
    idOf.push(id);
  }
  const specialIds = specials.map((s) => tokens.push(encoder.encode(s)) - 1);
  const vocab = {
    tokens, specialIds, merges: merges.map(([a, b]): [number, number] => [idOf[a]!, idOf[b]!]), pattern: regexForJs(LLAMA3_PATTERN), wholeTokens: false,
    bosId: specialIds[0]!, eosId: specialIds[1]!,
  };
  return { family: 'byte-level', tokenizer: createByteLevelBpe(vocab), byteLevel: vocab };
}
