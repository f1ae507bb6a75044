/**
 * Bytes as tokens: id = the UTF-8 byte's value (vocabulary 256), nothing merged, nothing unknown. The tokenizer of
 * the training quickstart; bits per byte equals bits per token.
 */
import { ArgumentError } from '../core/errors.js';
import type { EncodeOptions, StreamDecoder, Tokenizer } from './tokenizer.js';
import { createUtf8Stream, utf8Decode, utf8Encode } from './utf8-stream.js';

export class ByteTokenizer implements Tokenizer {
  readonly vocabSize = 256;
  readonly bosId = -1;
  readonly addBos = false;
  readonly eosId = -1;

  /** BOS/EOS requests add nothing: the vocabulary has no such tokens (as a Hugging Face tokenizer without them). */
  encode(text: string, _options: EncodeOptions = {}): number[] {
    return Array.from(utf8Encode(text));
  }

  decode(ids: readonly number[]): string {
    return utf8Decode(Uint8Array.from(ids, (id) => this.checked(id)));
  }

  /** Printable ASCII as itself, other bytes as <0xNN>. */
  piece(id: number): string {
    const b = this.checked(id);
    return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  }

  createDecoder(): StreamDecoder {
    const stream = createUtf8Stream();
    return { push: (id) => stream.write(Uint8Array.of(this.checked(id))), flush: () => stream.end() };
  }

  private checked(id: number): number {
    if (!(Number.isInteger(id) && id >= 0 && id < 256)) throw new ArgumentError('token id', 'an integer in [0, 256)', String(id));
    return id;
  }
}
