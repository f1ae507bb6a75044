import { ArgumentError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';

/** How the next token is drawn from the logits. The defaults change nothing (plain sampling at temperature 1). */
export interface SamplerOptions {
  /** 0 is greedy (argmax); otherwise logits are divided by it before the softmax. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 keeps all. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability exceeds p (nucleus); 1 keeps all. */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one; 0 keeps all. */
  minP?: number;
  /** CTRL-style penalty on tokens already in the context: positive logits divided by it, negative multiplied; 1 is off. */
  repetitionPenalty?: number;
  /** How many of the latest context tokens the repetition penalty looks at; default 64. */
  repetitionWindow?: number;
}

/** Reject options outside their ranges with an error naming the option. */
export function checkSamplerOptions(o: SamplerOptions): void {
  const check = (name: string, v: number | undefined, ok: (v: number) => boolean, want: string) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v))) throw new ArgumentError(name, want, String(v));
  };
  check('temperature', o.temperature, (v) => v >= 0, 'a number >= 0');
  check('topK', o.topK, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
  check('topP', o.topP, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  check('minP', o.minP, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  check('repetitionPenalty', o.repetitionPenalty, (v) => v > 0, 'a number > 0');
  check('repetitionWindow', o.repetitionWindow, (v) => Number.isInteger(v) && v >= 0, 'an integer >= 0');
}

/**
 * Draw the next token id from `logits` (V). `context` holds the tokens so far (for the repetition penalty).
 * One coin is drawn per sampled token (none when greedy), walking the kept tokens' CDF in order of decreasing
 * probability when a filter is on, else in id order: with top-p alone this is llama2.c's sampler, coin for coin.
 */
export function sampleToken(logits: Float32Array, options: SamplerOptions, rng: Rng, context: readonly number[] = []): number {
  const { temperature = 1, topK = 0, topP = 1, minP = 0, repetitionPenalty = 1, repetitionWindow = 64 } = options;
  const x = Float64Array.from(logits);
  if (repetitionPenalty !== 1) penalize(x, context.slice(Math.max(0, context.length - repetitionWindow)), repetitionPenalty);
  if (temperature === 0) return argmax(x);
  const probs = softmax(x.map((v) => v / temperature));
  let kept = Array.from(probs.keys());
  if (topK > 0 || topP < 1 || minP > 0) {
    kept.sort((a, b) => probs[b]! - probs[a]!);
    if (topK > 0) kept = kept.slice(0, topK);
    if (minP > 0) kept = kept.filter((i) => probs[i]! >= minP * probs[kept[0]!]!);
    if (topP < 1) kept = nucleus(kept, probs, topP);
  }
  return drawFrom(kept, probs, rng.nextFloat());
}

/**
 * Index of the largest value (the first one on ties). Logits (Float32Array) get a copy of the loop of their own: V8
 * compiles a loop for the array types it has seen, and one that has seen several reads each element slower (greedy
 * decode scans 49152 logits a token: 118 us shared, 36 us on its own, on the machine of bench/results/cpu.json).
 */
export function argmax(x: ArrayLike<number>): number {
  return x instanceof Float32Array ? argmaxF32(x) : argmaxAny(x);
}

function argmaxF32(x: Float32Array): number {
  let best = 0, max = x[0]!;
  for (let i = 1; i < x.length; i++) if (x[i]! > max) (max = x[i]!), (best = i);
  return best;
}

function argmaxAny(x: ArrayLike<number>): number {
  let best = 0, max = x[0]!;
  for (let i = 1; i < x.length; i++) if (x[i]! > max) (max = x[i]!), (best = i);
  return best;
}

function penalize(x: Float64Array, context: readonly number[], penalty: number): void {
  for (const id of new Set(context)) {
    if (id >= 0 && id < x.length) x[id] = x[id]! > 0 ? x[id]! / penalty : x[id]! * penalty;
  }
}

function softmax(x: Float64Array): Float64Array {
  let max = -Infinity;
  for (const v of x) max = Math.max(max, v);
  const e = x.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** The shortest prefix of `sorted` (descending) whose probability mass exceeds p, including the token that crosses it. */
function nucleus(sorted: number[], probs: Float64Array, p: number): number[] {
  let mass = 0;
  for (let i = 0; i < sorted.length; i++) {
    mass += probs[sorted[i]!]!;
    if (mass > p) return sorted.slice(0, i + 1);
  }
  return sorted;
}

/** Walk the CDF of the kept tokens (renormalised) until it exceeds coin in [0, 1). */
function drawFrom(kept: number[], probs: Float64Array, coin: number): number {
  let total = 0;
  for (const i of kept) total += probs[i]!;
  const r = coin * total;
  let cdf = 0;
  for (const i of kept) {
    cdf += probs[i]!;
    if (r < cdf) return i;
  }
  return kept[kept.length - 1]!; // rounding
}
