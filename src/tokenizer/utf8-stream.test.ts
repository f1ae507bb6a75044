import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createUtf8Stream, utf8Decode, utf8Encode } from './utf8-stream.js';

/** Write `bytes` one byte at a time; returns what each write gave, then what end() gave. */
function byteByByte(bytes: Uint8Array): string[] {
  const stream = createUtf8Stream();
  return [...Array.from(bytes, (b) => stream.write(Uint8Array.of(b))), stream.end()];
}

describe('UTF-8 stream', () => {
  it('holds back a character until its last byte arrives', () => {
    assert.deepEqual(byteByByte(utf8Encode('a€😀')), ['a', '', '', '€', '', '', '', '😀', '']);
  });

  it('keeps a leading U+FEFF: it is text, not a byte-order mark', () => {
    assert.equal(utf8Decode(utf8Encode('\ufeffx')), '\ufeffx');
    assert.equal(byteByByte(utf8Encode('\ufeffx')).join(''), '\ufeffx');
  });

  it('replaces invalid and truncated sequences with U+FFFD, streamed or whole alike', () => {
    const cases: [number[], string][] = [
      [[0xe2, 0x82, 0x41], '\ufffdA'], // lead byte cut short by ASCII
      [[0x80, 0xbf], '\ufffd\ufffd'], // orphan continuation bytes
      [[0xc0, 0xaf], '\ufffd\ufffd'], // overlong encoding
      [[0xed, 0xa0, 0x80], '\ufffd\ufffd\ufffd'], // an encoded surrogate
      [[0xf0, 0x9f, 0x98], '\ufffd'], // truncated at the end: end() flushes it
    ];
    for (const [bytes, text] of cases) {
      assert.equal(utf8Decode(Uint8Array.from(bytes)), text, `bytes ${bytes}`);
      assert.equal(byteByByte(Uint8Array.from(bytes)).join(''), text, `bytes ${bytes}, streamed`);
    }
  });

  it('encodes an unpaired surrogate as U+FFFD, since UTF-8 cannot hold it', () => {
    assert.deepEqual(Array.from(utf8Encode('\ud800')), [0xef, 0xbf, 0xbd]);
  });
});
