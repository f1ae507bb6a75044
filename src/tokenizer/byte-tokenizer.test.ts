import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../core/rng.js';
import { ByteTokenizer } from './byte-tokenizer.js';

const tok = new ByteTokenizer();

test('ids are the UTF-8 bytes', () => {
  assert.deepEqual(tok.encode('Hi é'), [72, 105, 32, 195, 169]);
  assert.equal(tok.decode([72, 105, 32, 195, 169]), 'Hi é');
  assert.equal(tok.piece(72), 'H');
  assert.equal(tok.piece(195), '<0xC3>');
});

test('random Unicode round-trips, whole and streamed', () => {
  const rng = new Rng(7);
  for (let n = 0; n < 200; n++) {
    const text = String.fromCodePoint(...Array.from({ length: 12 }, () => {
      const c = rng.nextU32() % 0x10ffff;
      return c >= 0xd800 && c < 0xe000 ? 0x41 : c; // surrogates are not characters
    }));
    const ids = tok.encode(text);
    assert.equal(tok.decode(ids), text);
    const d = tok.createDecoder();
    assert.equal(ids.map((id) => d.push(id)).join('') + d.flush(), text);
  }
});

test('bad ids are errors; asking for BOS adds nothing (there is none)', () => {
  assert.throws(() => tok.decode([256]), /token id: expected an integer in \[0, 256\), found 256/);
  assert.deepEqual(tok.encode('a', { bos: true, eos: true }), [97]);
});
