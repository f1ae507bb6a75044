import { ArgumentError } from '../core/errors.js';

/** What every tokenizer offers: text to ids and back, whole or streamed. */
export interface Tokenizer {
  readonly vocabSize: number;
  /** Beginning-of-sequence id, or -1 if the vocabulary has none. */
  readonly bosId: number;
  /** End-of-sequence id, or -1 if the vocabulary has none. */
  readonly eosId: number;
  /**
   * Whether the tokenizer's files ask for BOS before each text (tokenizer_config.json's add_bos_token or its
   * post-processor, GGUF's tokenizer.ggml.add_bos_token; LLaMA's own files: yes). Generation follows it.
   */
  readonly addBos: boolean;
  /** The ids of `text`; BOS/EOS are added only when asked for (both default to false). */
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * The text of these ids, as the format's reference renders it: SentencePiece renders control tokens (`<s>`,
   * `</s>`) as '' and drops the dummy-prefix space that `encode` adds from the first piece that follows nothing but
   * control tokens; byte-level BPE (tiktoken) renders special tokens as their text.
   */
  decode(ids: readonly number[]): string;
  /** The raw vocabulary piece of an id (SentencePiece spells a space as '▁', byte-level BPE as 'Ġ'). */
  piece(id: number): string;
  /** A decoder for ids that arrive one at a time (generation). */
  createDecoder(): StreamDecoder;
}

export interface EncodeOptions {
  bos?: boolean;
  eos?: boolean;
  /**
   * Recognise special-token text (`<|eot_id|>`) in the input as that special token (Hugging Face's default). Off by
   * default, as in Meta's tokenizer: it is the safe choice for user input, which then cannot forge a chat turn.
   * SentencePiece vocabularies have no such text form and ignore it.
   */
  parseSpecial?: boolean;
}

/**
 * Streaming decode: `push` returns the text that this id completes (possibly '' while a multi-byte character is
 * still arriving as byte tokens); `flush` returns what is held back. The concatenation of every `push` result and
 * `flush()` equals `decode` of all the ids.
 */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

/** A regex for special tokens' text, longest first (so that one that is a prefix of another loses); null if none. */
export function specialTokenRegex(texts: Iterable<string>): RegExp | null {
  const sorted = [...texts].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return sorted.length ? new RegExp(sorted.join('|'), 'g') : null;
}

/** `id` if it is a token id of a vocabulary of `vocabSize`, else an ArgumentError. */
export function checkTokenId(id: number, vocabSize: number): number {
  if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
    throw new ArgumentError('token id', `an integer in [0, ${vocabSize}) (the vocabulary size is ${vocabSize})`, String(id));
  }
  return id;
}
