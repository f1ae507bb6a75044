/**
 * SentencePiece's `.model` file, LLaMA 1/2's `tokenizer.model`: a serialized `ModelProto` protobuf
 * (sentencepiece_model.proto). The fields read, by number:
 *   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum; 1 normal when absent)
 *   TrainerSpec     3 model_type (1 unigram, 2 BPE), 25 split_digits, 35 byte_fallback,
 *                   40 unk_id (0), 41 bos_id (1), 42 eos_id (2)
 *   NormalizerSpec  1 name, 3 add_dummy_prefix (true), 4 remove_extra_whitespaces (true)
 * (defaults in parentheses apply when a field is absent, as protobuf's do).
 */
import { FormatError, UnsupportedError } from '../core/errors.js';
import { spmTokenType, type SpmVocab } from '../tokenizer/sentencepiece-bpe.js';

/** The flags of a `.model` beyond its vocabulary, for callers that report them. */
export interface SentencePieceModel {
  vocab: SpmVocab;
  modelType: number;
  byteFallback: boolean;
  splitDigits: boolean;
  normalizer: string;
  removeExtraWhitespaces: boolean;
}

const MODEL_TYPE_BPE = 2;

export function parseSentencePieceModel(bytes: Uint8Array, path: string): SentencePieceModel {
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const trainer = { modelType: 1, splitDigits: false, byteFallback: false, unkId: 0, bosId: 1, eosId: 2 };
  const normalizer = { name: '', addDummyPrefix: true, removeExtraWhitespaces: true };
  const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const text = (r: Reader, field: string) => {
    try {
      return utf8.decode(r.bytes(field));
    } catch (e) {
      if (e instanceof FormatError) throw e;
      throw new FormatError(path, field, 'UTF-8 text', 'invalid UTF-8');
    }
  };

  readMessage(new Reader(bytes, path, 'ModelProto'), (r, field, wire) => {
    if (field === 1 && wire === 2) {
      const i = pieces.length;
      let piece: string | undefined, score = 0, type: number = spmTokenType.normal;
      readMessage(r.sub(`pieces[${i}]`), (p, f, w) => {
        if (f === 1 && w === 2) piece = text(p, `pieces[${i}].piece`);
        else if (f === 2 && w === 5) score = p.float32();
        else if (f === 3 && w === 0) type = p.varint(`pieces[${i}].type`);
        else p.skip(w, `pieces[${i}] field ${f}`);
      });
      if (piece === undefined) throw new FormatError(path, `pieces[${i}].piece`, 'a piece string', 'none');
      if (type < 1 || type > 6) throw new FormatError(path, `pieces[${i}].type`, 'a piece type 1..6', String(type));
      pieces.push(piece);
      scores.push(score);
      types.push(type);
    } else if (field === 2 && wire === 2) {
      readMessage(r.sub('trainer_spec'), (t, f, w) => {
        const name = `trainer_spec field ${f}`;
        if (w !== 0) return t.skip(w, name);
        const v = t.varint(name);
        if (f === 3) trainer.modelType = v;
        else if (f === 25) trainer.splitDigits = v !== 0;
        else if (f === 35) trainer.byteFallback = v !== 0;
        else if (f === 40) trainer.unkId = signed32(v);
        else if (f === 41) trainer.bosId = signed32(v);
        else if (f === 42) trainer.eosId = signed32(v);
      });
    } else if (field === 3 && wire === 2) {
      readMessage(r.sub('normalizer_spec'), (n, f, w) => {
        if (f === 1 && w === 2) normalizer.name = text(n, 'normalizer_spec.name');
        else if (f === 3 && w === 0) normalizer.addDummyPrefix = n.varint('normalizer_spec.add_dummy_prefix') !== 0;
        else if (f === 4 && w === 0) normalizer.removeExtraWhitespaces = n.varint('normalizer_spec.remove_extra_whitespaces') !== 0;
        else n.skip(w, `normalizer_spec field ${f}`);
      });
    } else {
      r.skip(wire, `ModelProto field ${field}`);
    }
  });

  if (pieces.length === 0) throw new FormatError(path, 'pieces', 'a SentencePiece model with pieces', 'none');
  if (trainer.modelType !== MODEL_TYPE_BPE) {
    throw new UnsupportedError(path, 'trainer_spec.model_type', `model type ${trainer.modelType} (${['', 'unigram', 'BPE', 'word', 'char'][trainer.modelType] ?? 'unknown'}; LLaMA's is BPE)`);
  }
  if (normalizer.name !== '' && normalizer.name !== 'identity') {
    throw new UnsupportedError(path, 'normalizer_spec.name', `the "${normalizer.name}" normalizer (LLaMA's is "identity")`);
  }
  if (normalizer.removeExtraWhitespaces) {
    throw new UnsupportedError(path, 'normalizer_spec.remove_extra_whitespaces', 'remove_extra_whitespaces: true (LLaMA leaves whitespace as it is)');
  }
  const id = (value: number, field: string) => {
    if (value < -1 || value >= pieces.length) throw new FormatError(path, `trainer_spec.${field}`, `-1 or an id below ${pieces.length}`, String(value));
    return value;
  };
  return {
    vocab: {
      pieces, scores, types,
      bosId: id(trainer.bosId, 'bos_id'), eosId: id(trainer.eosId, 'eos_id'), unkId: id(trainer.unkId, 'unk_id'),
      addSpacePrefix: normalizer.addDummyPrefix,
    },
    modelType: trainer.modelType,
    byteFallback: trainer.byteFallback,
    splitDigits: trainer.splitDigits,
    normalizer: normalizer.name || 'identity',
    removeExtraWhitespaces: normalizer.removeExtraWhitespaces,
  };
}

/** Whether these leading bytes can start a ModelProto: field 1 (pieces), length-delimited, then a SentencePiece. */
export function looksLikeSentencePiece(head: Uint8Array): boolean {
  return head[0] === 0x0a;
}

/** A varint read as uint64 holds a negative int32 as its 64-bit two's complement. */
function signed32(v: number): number {
  return v >= 2 ** 63 ? v - 2 ** 64 : v > 0x7fffffff ? v - 2 ** 32 : v;
}

/** Call `onField(reader, field, wireType)` for each field of the message in `r`; the callback consumes its value. */
function readMessage(r: Reader, onField: (r: Reader, field: number, wire: number) => void): void {
  while (!r.done()) {
    const key = r.varint(`${r.what} field key`);
    const field = Math.floor(key / 8), wire = key % 8;
    if (field === 0) throw new FormatError(r.path, `${r.what} at offset ${r.pos}`, 'a field number >= 1', '0');
    onField(r, field, wire);
  }
}

/** A bounds-checked protobuf reader over bytes [pos, end). */
class Reader {
  constructor(
    private readonly buf: Uint8Array,
    readonly path: string,
    readonly what: string,
    public pos = 0,
    private readonly end = buf.length,
  ) {}

  done(): boolean {
    return this.pos >= this.end;
  }

  varint(field: string): number {
    let value = 0, scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw this.truncated(field, 'a varint');
      const b = this.buf[this.pos++]!;
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new FormatError(this.path, `${field} at offset ${this.pos}`, 'a varint of at most 10 bytes', 'a longer one');
  }

  float32(): number {
    if (this.end - this.pos < 4) throw this.truncated(`${this.what} float`, '4 bytes');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }

  bytes(field: string): Uint8Array {
    const length = this.varint(`${field} length`);
    if (length > this.end - this.pos) {
      throw new FormatError(this.path, `${field} at offset ${this.pos}`, `a length of at most ${this.end - this.pos} (the bytes left)`, String(length));
    }
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  /** A reader over the length-delimited message that comes next. */
  sub(what: string): Reader {
    const length = this.bytes(what).length;
    return new Reader(this.buf, this.path, what, this.pos - length, this.pos);
  }

  /** Step over a value of wire type `wire`. */
  skip(wire: number, field: string): void {
    if (wire === 0) this.varint(field);
    else if (wire === 2) this.bytes(field);
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (this.end - this.pos < n) throw this.truncated(field, `${n} bytes`);
      this.pos += n;
    } else {
      throw new FormatError(this.path, `${field} at offset ${this.pos}`, 'a protobuf wire type 0, 1, 2 or 5', String(wire));
    }
  }

  private truncated(field: string, expected: string): FormatError {
    return new FormatError(this.path, `${field} at offset ${this.pos}`, expected, `${this.end - this.pos} bytes left (the file is truncated)`);
  }
}
