/**
 * The tokenizer fuzz fixture (test-only): 10,000 random strings and the ids that each reference implementation gave
 * them (test/fixtures/tokenizer-fuzz/make_fuzz.py says how they were made).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import type { EncodeOptions, Tokenizer } from '../tokenizer/tokenizer.js';

export type FuzzReference = 'tiktoken-llama3' | 'tiktoken-llama3-special' | 'hf-llama3' | 'hf-llama2' | 'sentencepiece-llama2';

interface Fuzz {
  strings: string[];
  ids: Record<FuzzReference, number[][]>;
}

let fuzz: Fuzz | undefined;

export function fuzzStrings(): string[] {
  return load().strings;
}

/** The strings on which `tokenizer` gives other ids than `reference` did. */
export function fuzzMismatches(tokenizer: Tokenizer, reference: FuzzReference, options?: EncodeOptions): string[] {
  const { strings, ids } = load();
  return strings.filter((s, i) => {
    const got = tokenizer.encode(s, options), want = ids[reference][i]!;
    return got.length !== want.length || got.some((id, k) => id !== want[k]);
  });
}

function load(): Fuzz {
  const path = fileURLToPath(new URL('../../test/fixtures/tokenizer-fuzz/fuzz.json.gz', import.meta.url));
  return (fuzz ??= JSON.parse(gunzipSync(readFileSync(path)).toString('utf8')) as Fuzz);
}
