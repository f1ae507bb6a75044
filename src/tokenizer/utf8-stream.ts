/**
 * UTF-8 bytes to text, whole or in pieces. Byte-fallback tokens (`<0xE2>` `<0x96>` `<0x81>`) spell one character
 * across several tokens, so a streaming decoder must hold back an incomplete sequence until its last byte arrives.
 *
 * Both paths use TextDecoder, so that streamed and whole decoding replace invalid bytes with U+FFFD in exactly the
 * same places (the WHATWG "maximal subpart" rule). `ignoreBOM` keeps a leading U+FEFF: it is text, not a marker.
 */

/** An incremental decoder: `write` returns the characters completed so far; `end` flushes what is left. */
export interface Utf8Stream {
  write(bytes: Uint8Array): string;
  end(): string;
}

export function createUtf8Stream(): Utf8Stream {
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  return {
    write: (bytes) => decoder.decode(bytes, { stream: true }),
    end: () => decoder.decode(),
  };
}

/** Decode complete UTF-8 text (invalid or truncated sequences become U+FFFD). */
export function utf8Decode(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
}

/** The UTF-8 bytes of a string (an unpaired surrogate becomes U+FFFD: UTF-8 cannot hold it). */
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

const encoder = new TextEncoder();
