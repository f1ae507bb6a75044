/** What every tokenizer offers: text to ids and back, whole or streamed. */
export interface Tokenizer {
  readonly vocabSize: number;
  /** Beginning-of-sequence id, or -1 if the vocabulary has none. */
  readonly bosId: number;
  /** End-of-sequence id, or -1 if the vocabulary has none. */
  readonly eosId: number;
  /** The ids of `text`; BOS/EOS are added only when asked for (both default to false). */
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * The text of these ids. Control tokens (`<s>`, `</s>`) render as ''. As in SentencePiece, the dummy-prefix
   * space that `encode` adds is dropped from the first piece that follows nothing but control tokens.
   */
  decode(ids: readonly number[]): string;
  /** The raw vocabulary piece of an id (SentencePiece spells a space as '▁'). */
  piece(id: number): string;
  /** A decoder for ids that arrive one at a time (generation). */
  createDecoder(): StreamDecoder;
}

export interface EncodeOptions {
  bos?: boolean;
  eos?: boolean;
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
