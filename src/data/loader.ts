/**
 * Token shards (data/prepare.ts) back into training: validated on open, training windows sampled with a seeded,
 * resumable generator, and the validation split as consecutive windows that score every token once.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, FormatError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { BatchSampler } from '../train/trainer.js';
import type { TokenMeta } from './prepare.js';

export type TokenArray = Uint16Array | Uint32Array;

export interface TokenShards {
  meta: TokenMeta;
  train: TokenArray;
  val: TokenArray;
}

export function openTokenShards(dir: string): TokenShards {
  const metaFile = join(dir, 'meta.json');
  if (!existsSync(metaFile)) throw new FormatError(dir, 'meta.json', 'a folder made by llamats prepare', 'no meta.json');
  let meta: TokenMeta;
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8'));
  } catch (e) {
    throw new FormatError(metaFile, 'JSON', 'valid JSON', (e as Error).message);
  }
  if (meta.format !== 'llamats-tokens' || meta.version !== 1) {
    throw new FormatError(metaFile, 'format', '"llamats-tokens" version 1', `${JSON.stringify(meta.format)} version ${JSON.stringify(meta.version)}`);
  }
  if (meta.dtype !== 'uint16' && meta.dtype !== 'uint32') throw new FormatError(metaFile, 'dtype', 'uint16 or uint32', JSON.stringify(meta.dtype));
  for (const key of ['vocabSize', 'trainTokens', 'valTokens', 'trainBytes', 'valBytes'] as const) {
    if (!Number.isSafeInteger(meta[key]) || meta[key] < 0) throw new FormatError(metaFile, key, 'an integer >= 0', JSON.stringify(meta[key]));
  }
  const width = meta.dtype === 'uint16' ? 2 : 4;
  const read = (name: string, count: number): TokenArray => {
    const file = join(dir, name);
    const size = existsSync(file) ? statSync(file).size : -1;
    if (size !== count * width) throw new FormatError(file, 'size', `${count * width} bytes (${count} ${meta.dtype} tokens, meta.json)`, size < 0 ? 'no file' : `${size} bytes`);
    const bytes = readFileSync(file);
    const ids = meta.dtype === 'uint16' ? new Uint16Array(count) : new Uint32Array(count);
    new Uint8Array(ids.buffer).set(bytes);
    const bad = ids.find((id) => id >= meta.vocabSize);
    if (bad !== undefined) throw new FormatError(file, 'token id', `ids < ${meta.vocabSize} (meta.json vocabSize)`, String(bad));
    return ids;
  };
  return { meta, train: read('train.bin', meta.trainTokens), val: read('val.bin', meta.valTokens) };
}

/** Uniformly random windows of seqLen + 1 tokens (inputs and their next tokens), `batch` per draw. */
export class WindowSampler implements BatchSampler {
  private rng: Rng;
  private drawn = 0;

  constructor(private readonly tokens: TokenArray, private readonly o: { seqLen: number; batch: number; seed: number }) {
    if (tokens.length < o.seqLen + 1) {
      throw new ArgumentError('training data', `at least ${o.seqLen + 1} tokens (one window)`, `${tokens.length}`);
    }
    this.rng = new Rng(o.seed);
  }

  next(): { inputs: Int32Array; targets: Int32Array } {
    const { seqLen, batch } = this.o;
    const inputs = new Int32Array(batch * seqLen);
    const targets = new Int32Array(batch * seqLen);
    const starts = this.tokens.length - seqLen; // a window starting at s reads s .. s + seqLen
    for (let b = 0; b < batch; b++) {
      const s = this.rng.nextU32() % starts;
      inputs.set(this.tokens.subarray(s, s + seqLen), b * seqLen);
      targets.set(this.tokens.subarray(s + 1, s + seqLen + 1), b * seqLen);
    }
    this.drawn++;
    return { inputs, targets };
  }

  /** JSON-safe position: the generator's state and how many batches were drawn. */
  get state(): { rng: string; drawn: number } {
    return { rng: this.rng.seedState.toString(), drawn: this.drawn };
  }

  set state(s: unknown) {
    const { rng, drawn } = (s ?? {}) as { rng?: unknown; drawn?: unknown };
    if (typeof rng !== 'string' || !/^\d+$/.test(rng) || !Number.isInteger(drawn)) {
      throw new ArgumentError('sampler state', '{ rng: "<digits>", drawn: <integer> }', JSON.stringify(s));
    }
    this.rng.seedState = BigInt(rng);
    this.drawn = drawn as number;
  }
}

/** The split as consecutive windows of up to seqLen inputs: every token but the first is a target exactly once. */
export function validationWindows(tokens: TokenArray, seqLen: number): { inputs: Int32Array; targets: Int32Array }[] {
  const out: { inputs: Int32Array; targets: Int32Array }[] = [];
  for (let s = 0; s + 1 < tokens.length; s += seqLen) {
    const len = Math.min(seqLen, tokens.length - 1 - s);
    out.push({ inputs: Int32Array.from(tokens.subarray(s, s + len)), targets: Int32Array.from(tokens.subarray(s + 1, s + len + 1)) });
  }
  return out;
}
