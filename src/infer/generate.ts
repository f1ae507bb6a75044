import { ArgumentError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import type { LlamaModel } from '../model/llama.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { Decoder } from './decoder.js';
import { checkSamplerOptions, sampleToken, type SamplerOptions } from './sampler.js';

export interface GenerateOptions extends SamplerOptions {
  /** How many tokens to generate (the prompt not counted). Default 256; never past the model's maxSeqLen. */
  maxTokens?: number;
  /** Seed of the sampler's RNG; the same seed, model and options give the same tokens. Default: from the clock. */
  seed?: number;
  /** Prepend BOS to a text prompt (default true). A prompt given as ids is used as it is. */
  bos?: boolean;
  /** Stop when the model emits EOS, or BOS (which starts a new document, as llama2.c treats it). Default true. */
  stopAtEos?: boolean;
  signal?: AbortSignal;
}

export interface GeneratedToken {
  id: number;
  /** The text this token completes (may be '' while a multi-byte character is incomplete). */
  text: string;
}

export interface GenerationStats {
  prefillTokens: number;
  prefillSeconds: number;
  /** Single-token forward passes after the prefill. */
  decodeTokens: number;
  decodeSeconds: number;
  stopReason: 'eos' | 'maxTokens' | 'contextFull' | 'aborted';
  seed: number;
}

/**
 * Generate a continuation of `prompt`, one token at a time: the prompt is run in one forward pass (prefill) that
 * fills the KV cache, then each new token costs one single-position pass. Yields tokens as they are sampled and
 * returns the timing when done.
 */
export async function* generate(
  model: LlamaModel, tokenizer: Tokenizer, prompt: string | readonly number[], options: GenerateOptions = {},
): AsyncGenerator<GeneratedToken, GenerationStats> {
  const { maxTokens = 256, bos = tokenizer.addBos, stopAtEos = true, signal } = options;
  const seed = options.seed ?? Date.now() % 2 ** 31;
  checkSamplerOptions(options);
  if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new ArgumentError('maxTokens', 'an integer >= 0', String(maxTokens));
  const ids = typeof prompt === 'string' ? tokenizer.encode(prompt, { bos }) : [...prompt];
  checkPrompt(ids, model);

  const { config } = model;
  const decoder = new Decoder(model, Math.min(config.maxSeqLen, ids.length + maxTokens));
  const rng = new Rng(seed);
  const greedy = options.temperature === 0 && (options.repetitionPenalty ?? 1) === 1;
  const text = tokenizer.createDecoder();
  for (const id of ids) text.push(id); // so the first new piece is rendered in context (e.g. keeps its space)
  const stats: GenerationStats = { prefillTokens: ids.length, prefillSeconds: 0, decodeTokens: 0, decodeSeconds: 0, stopReason: 'maxTokens', seed };
  try {
    let input = ids;
    for (let n = 0; n < maxTokens; n++) {
      if (signal?.aborted) return { ...stats, stopReason: 'aborted' };
      if (decoder.cache.length + input.length > decoder.cache.capacity) return { ...stats, stopReason: 'contextFull' };
      const start = performance.now();
      // Greedy decoding takes the argmax where the logits are (nextGreedy): one id read back from a GPU.
      const step = greedy ? await decoder.nextGreedy(input) : await decoder.next(input);
      const seconds = (performance.now() - start) / 1000;
      if (n === 0) stats.prefillSeconds = seconds;
      else (stats.decodeSeconds += seconds), stats.decodeTokens++;
      const id = typeof step === 'number' ? step : sampleToken(step, options, rng, ids);
      if (stopAtEos && (id === tokenizer.eosId || id === tokenizer.bosId)) return { ...stats, stopReason: 'eos' };
      ids.push(id);
      yield { id, text: text.push(id) };
      input = [id];
    }
    return stats;
  } finally {
    decoder.dispose();
  }
}

function checkPrompt(ids: readonly number[], model: LlamaModel): void {
  const { vocabSize, maxSeqLen } = model.config;
  if (ids.length === 0) throw new ArgumentError('prompt', 'at least one token (an empty prompt needs BOS)', 'no tokens');
  if (ids.length > maxSeqLen) throw new ArgumentError('prompt', `at most ${maxSeqLen} tokens (maxSeqLen)`, `${ids.length}`);
  const bad = ids.find((id) => !(Number.isInteger(id) && id >= 0 && id < vocabSize));
  if (bad !== undefined) throw new ArgumentError('prompt token id', `an integer in [0, ${vocabSize})`, String(bad));
}
