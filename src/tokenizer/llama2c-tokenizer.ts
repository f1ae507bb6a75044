/**
 * llama2.c's `tokenizer.bin`: a SentencePiece BPE vocabulary exported as
 *   u32 max_token_length, then vocabSize x (f32 score, i32 len, len bytes of UTF-8 piece),
 * little-endian, with no count: the vocabulary size comes from the model. The exporter wrote '▁' as ' ', BOS as
 * "\n<s>\n" and EOS as "\n</s>\n"; we map those back to SentencePiece's spelling.
 */
import { readFileSync } from 'node:fs';
import { ArgumentError, FormatError } from '../core/errors.js';
import { createSentencePieceBpe, spmTokenType, type SpmVocab } from './sentencepiece-bpe.js';
import type { Tokenizer } from './tokenizer.js';

/** The tokenizer in a llama2.c `tokenizer.bin`; `vocabSize` is the model's (the file does not store it). */
export function readLlama2cTokenizer(path: string, vocabSize: number): Tokenizer {
  return createSentencePieceBpe(parseLlama2cTokenizer(readFileSync(path), vocabSize, path));
}

/** The vocabulary in the bytes of a `tokenizer.bin`; `file` names it in errors. */
export function parseLlama2cTokenizer(bytes: Uint8Array, vocabSize: number, file: string): SpmVocab {
  if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) throw new ArgumentError('vocabSize', 'a positive integer', String(vocabSize));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.byteLength < 4) throw new FormatError(file, 'max_token_length', '4 bytes', `${view.byteLength} (the file is truncated)`);
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize);
  let offset = 4; // max_token_length only sized llama2.c's buffers
  for (let i = 0; i < vocabSize; i++) {
    if (offset === view.byteLength) throw vocabSizeError(file, vocabSize, `${i} entries`);
    const entry = readEntry(view, offset, i, file);
    scores[i] = entry.score;
    pieces.push(pieceText(bytes.subarray(entry.start, entry.end), i, file));
    offset = entry.end;
  }
  if (offset < view.byteLength) throw vocabSizeError(file, vocabSize, describeExtra(view, offset, vocabSize));
  return toSpmVocab(pieces, scores);
}

function vocabSizeError(file: string, vocabSize: number, found: string): FormatError {
  return new FormatError(file, 'vocabulary size', `${vocabSize} entries (the model's vocabSize)`, found);
}

/** Entry `i` at `offset`: its score and the byte range of its piece, checked against the bytes left. */
function readEntry(view: DataView, offset: number, i: number, file: string): { score: number; start: number; end: number } {
  const left = view.byteLength - offset;
  if (left < 8) throw new FormatError(file, `entry ${i} at offset ${offset}`, '8 bytes of score and length', `${left} bytes (the file is truncated)`);
  const len = view.getInt32(offset + 4, true);
  if (len < 0 || len > left - 8) {
    throw new FormatError(file, `entry ${i} len at offset ${offset + 4}`, `a length in [0, ${left - 8}] (the bytes left)`, String(len));
  }
  return { score: view.getFloat32(offset, true), start: offset + 8, end: offset + 8 + len };
}

/** What follows the last expected entry: a whole number of further entries, or stray bytes. */
function describeExtra(view: DataView, offset: number, vocabSize: number): string {
  const extra = wholeEntries(view, offset);
  return extra < 0 ? `${view.byteLength - offset} more bytes after entry ${vocabSize - 1}` : `${vocabSize + extra} entries`;
}

/** The number of whole entries from `offset` to the end, -1 if the bytes are not whole entries. */
function wholeEntries(view: DataView, offset: number): number {
  let count = 0;
  for (let at = offset; at < view.byteLength; count++) {
    const left = view.byteLength - at;
    const len = left >= 8 ? view.getInt32(at + 4, true) : -1;
    if (len < 0 || len > left - 8) return -1;
    at += 8 + len;
  }
  return count;
}

/** The vocabulary size of a `tokenizer.bin` read alone (no model to say it): all its entries. */
export function llama2cEntryCount(bytes: Uint8Array, file: string): number {
  const count = bytes.length < 4 ? -1 : wholeEntries(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 4);
  if (count <= 0) throw new FormatError(file, 'entries', 'a u32 then whole (score, len, piece) entries to the end', 'a file that does not divide into them');
  return count;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function pieceText(bytes: Uint8Array, i: number, file: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FormatError(file, `entry ${i} piece`, 'UTF-8 text', 'invalid UTF-8');
  }
}

/** Undo the exporter's spellings and recover the piece types that the format does not store. */
function toSpmVocab(exported: string[], scores: Float32Array): SpmVocab {
  const classified = exported.map(classify);
  return {
    pieces: classified.map(([piece]) => piece),
    scores,
    types: classified.map(([, type]) => type),
    bosId: exported.indexOf('\n<s>\n'),
    eosId: exported.indexOf('\n</s>\n'),
    unkId: exported.indexOf('<unk>'),
    addSpacePrefix: true,
  };
}

const specialPieces = new Map<string, [string, number]>([
  ['<unk>', ['<unk>', spmTokenType.unknown]],
  ['\n<s>\n', ['<s>', spmTokenType.control]],
  ['\n</s>\n', ['</s>', spmTokenType.control]],
]);

/** The SentencePiece piece and type of an exported piece. */
function classify(text: string): [string, number] {
  const special = specialPieces.get(text);
  if (special) return special;
  if (/^<0x[0-9A-F]{2}>$/.test(text)) return [text, spmTokenType.byte];
  return [text.replaceAll(' ', '\u2581'), spmTokenType.normal];
}
