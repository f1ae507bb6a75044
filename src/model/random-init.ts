/**
 * Seeded random weights and a synthetic vocabulary, to make benchmark and test models of any preset's shape that
 * llama.cpp and llamats both load. Tensors are generated lazily, one at a time, so writing a 1.1B-parameter model
 * never holds more than its largest tensor.
 */
import { ConfigError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { HostTensor } from '../tensor/tensor.js';
import { spmTokenType, type SpmVocab } from '../tokenizer/sentencepiece-bpe.js';
import type { LlamaConfig } from './config.js';
import { expectedTensors } from './weights.js';

/** A tensor made on demand. */
export type LazyHostTensor = () => HostTensor;

/**
 * Linear and embedding weights ~ N(0, std^2) with std 0.02 (GPT-2's and LLaMA's reference init): with the RMSNorms
 * at gain 1 this keeps activations O(1) through the layers, so a benchmark on these weights does the arithmetic of a
 * real model (no NaN/Inf, no all-zero softmax shortcuts). Norm gains (1-D) are 1.
 *
 * Each tensor has its own generator, seeded from `seed` in tensor order up front, so a tensor's values do not depend
 * on which others were generated first.
 */
export function randomWeights(config: LlamaConfig, seed = 0, std = 0.02): Map<string, LazyHostTensor> {
  const rng = new Rng(seed);
  const out = new Map<string, LazyHostTensor>();
  for (const [name, shape] of expectedTensors(config)) {
    const state = Int32Array.from({ length: 4 }, () => rng.nextU32() | 1); // xoshiro's state must not be all zero
    out.set(name, () => ({ shape, data: shape.length === 1 ? new Float32Array(shape[0]!).fill(1) : normals(shape, state, std) }));
  }
  return out;
}

function normals(shape: readonly number[], seedState: Int32Array, std: number): Float32Array {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  fillNormal(out, Int32Array.from(seedState), std);
  return out;
}

/**
 * Fill with N(0, std^2) by Marsaglia's polar method (no trigonometry) on uniforms from xoshiro128** (32-bit
 * arithmetic, fast in JS; Rng's 64-bit BigInt state would take many minutes for a billion values).
 */
function fillNormal(out: Float32Array, state: Int32Array, std: number): void {
  for (let i = 0; i < out.length; ) {
    const u = xoshiro128ss(state) * 2 ** -31; // [-1, 1)
    const v = xoshiro128ss(state) * 2 ** -31;
    const q = u * u + v * v;
    if (q >= 1 || q === 0) continue; // keep points inside the unit disc (about 79%)
    const f = std * Math.sqrt((-2 * Math.log(q)) / q);
    out[i++] = u * f;
    if (i < out.length) out[i++] = v * f;
  }
}

/** Next 32 random bits (as a signed int) of xoshiro128** (Blackman and Vigna); `s` is its 128-bit state. */
function xoshiro128ss(s: Int32Array): number {
  const r = Math.imul(s[1]!, 5);
  const out = Math.imul(rotl(r, 7), 9);
  const t = s[1]! << 9;
  s[2] ^= s[0]!;
  s[3] ^= s[1]!;
  s[1] ^= s[2]!;
  s[0] ^= s[3]!;
  s[2] ^= t;
  s[3] = rotl(s[3]!, 11);
  return out;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Special pieces and the 256 byte-fallback pieces: every LLaMA SPM vocabulary starts this way. */
const specialCount = 3 + 256;

/**
 * A SentencePiece vocabulary of exactly `vocabSize` pieces, laid out as LLaMA's: `<unk>` 0, `<s>` 1, `</s>` 2, the
 * byte pieces `<0x00>`..`<0xFF>` (3..258), then the printable ASCII characters (space as '▁') and '▁'-prefixed
 * filler words, all unique. Enough for llama.cpp to load the model and for any text to encode (through byte
 * fallback where no piece fits); the text it produces from random weights means nothing.
 */
export function syntheticVocab(vocabSize: number): SpmVocab {
  if (!Number.isSafeInteger(vocabSize) || vocabSize < specialCount) {
    const expected = `an integer >= ${specialCount} (3 special + 256 byte pieces)`;
    throw new ConfigError('synthetic vocabulary', 'vocabSize', expected, String(vocabSize));
  }
  const pieces = ['<unk>', '<s>', '</s>'];
  const types: number[] = [spmTokenType.unknown, spmTokenType.control, spmTokenType.control];
  for (let b = 0; b < 256; b++) {
    pieces.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(spmTokenType.byte);
  }
  const fillers = fillerPieces(vocabSize - specialCount);
  pieces.push(...fillers);
  types.push(...fillers.map(() => spmTokenType.normal));
  // Earlier normal pieces merge first; special and byte pieces never merge (score 0 as SentencePiece writes them).
  const scores = Float32Array.from(pieces, (_, id) => (id < specialCount ? 0 : -(id - specialCount)));
  return { pieces, scores, types, bosId: 1, eosId: 2, unkId: 0, addSpacePrefix: true, addBos: true };
}

/** `count` unique pieces: printable ASCII characters, then '▁' + a base-36 number. */
function fillerPieces(count: number): string[] {
  const out: string[] = [];
  for (let c = 0x20; c < 0x7f && out.length < count; c++) out.push(c === 0x20 ? '\u2581' : String.fromCharCode(c));
  for (let i = 0; out.length < count; i++) out.push(`\u2581${i.toString(36)}`);
  return out;
}
