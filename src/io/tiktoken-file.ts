/**
 * tiktoken's rank file, the form of Meta's Llama 3 `tokenizer.model`: one line per token, `<base64 of its bytes>
 * <rank>`, the rank being both the token id and its merge priority. The file holds neither the pre-tokenizer
 * regex nor the special tokens; for Llama 3 (128000 ranks) they are Meta's, from llama/tokenizer.py.
 */
import { FormatError } from '../core/errors.js';
import { LLAMA3_PATTERN, regexForJs, type ByteLevelBpeVocab } from '../tokenizer/byte-level-bpe.js';

/** Llama 3's 256 special tokens, ids 128000..128255 in this order. */
export function llama3SpecialTokens(): string[] {
  const reserved = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `<|reserved_special_token_${from + i}|>`);
  return ['<|begin_of_text|>', '<|end_of_text|>', ...reserved(0, 3), '<|start_header_id|>', '<|end_header_id|>',
    ...reserved(4, 4), '<|eot_id|>', ...reserved(5, 250)];
}

const LLAMA3_RANKS = 128000;

/** Whether these leading bytes look like a rank file (base64, a space, digits) rather than a protobuf. */
export function looksLikeTiktoken(head: Uint8Array): boolean {
  return /^[A-Za-z0-9+/]+={0,2} \d+\r?\n/.test(new TextDecoder().decode(head.subarray(0, 256)));
}

export function parseTiktokenFile(bytes: Uint8Array, path: string): ByteLevelBpeVocab {
  const text = new TextDecoder('utf-8').decode(bytes);
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const tokens = new Array<Uint8Array>(lines.length);
  const seen = new Map<string, number>();
  lines.forEach((line, i) => {
    const m = /^([A-Za-z0-9+/]*={0,2}) (\d+)\r?$/.exec(line);
    if (!m) throw new FormatError(path, `line ${i + 1}`, '"<base64 token> <rank>"', JSON.stringify(line.slice(0, 60)));
    const rank = Number(m[2]);
    if (rank >= lines.length) throw new FormatError(path, `line ${i + 1}`, `a rank below the line count ${lines.length}`, String(rank));
    if (tokens[rank]) throw new FormatError(path, `line ${i + 1}`, 'each rank once', `rank ${rank} again`);
    const token = Buffer.from(m[1]!, 'base64');
    const key = token.toString('latin1');
    if (seen.has(key)) throw new FormatError(path, `line ${i + 1}`, 'distinct tokens', `the token of line ${seen.get(key)! + 1} again`);
    seen.set(key, i);
    if (token.length === 0) throw new FormatError(path, `line ${i + 1}`, 'a token of at least one byte', 'an empty one');
    tokens[rank] = new Uint8Array(token.buffer, token.byteOffset, token.length);
  });
  const isLlama3 = tokens.length === LLAMA3_RANKS;
  const specials = isLlama3 ? llama3SpecialTokens() : [];
  const encoder = new TextEncoder();
  const specialIds = specials.map((_, i) => tokens.length + i);
  return {
    tokens: [...tokens, ...specials.map((s) => encoder.encode(s))],
    specialIds,
    merges: 'ranks',
    pattern: regexForJs(LLAMA3_PATTERN),
    wholeTokens: true,
    bosId: isLlama3 ? LLAMA3_RANKS : -1,
    eosId: isLlama3 ? LLAMA3_RANKS + 1 : -1,
  };
}
