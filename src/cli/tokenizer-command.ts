import { createReadStream, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ArgumentError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { byteLevelTokenizerJson, sentencePieceTokenizerJson, tokenizerConfigJson } from '../io/hf-tokenizer.js';
import { assetPath } from '../io/package-paths.js';
import { LLAMA3_PATTERN } from '../tokenizer/byte-level-bpe.js';
import { trainTokenizer, WordCounter } from '../tokenizer/tokenizer-trainer.js';
import { numberFlag } from './flags.js';
import { progressBar } from './progress-bar.js';

export interface TokenizerTrainFlags {
  input?: string[]; 'vocab-size'?: string; out?: string; 'byte-level'?: boolean;
}

/** Lines kept to report compression at the end (the first ones read, up to this many bytes). */
const SAMPLE_BYTES = 4_000_000;

/**
 * `llamats tokenizer train`: stream the inputs line by line into word counts, learn the merges, write
 * OUT/tokenizer.json and OUT/tokenizer_config.json, and report the compression on (the start of) the input.
 */
export async function runTokenizerTrain(f: TokenizerTrainFlags): Promise<number> {
  const inputs = f.input?.flatMap((i) => i.split(',')) ?? [assetPath('corpus', 'tinyshakespeare.txt'), assetPath('corpus', 'tinystories-sample.txt')];
  const vocabSize = numberFlag('vocab-size', f['vocab-size'], true) ?? 4096;
  if (vocabSize < 1 || vocabSize > 1 << 24) throw new ArgumentError('--vocab-size', 'an integer in [1, 16777216]', String(vocabSize));
  const out = f.out ?? 'runs/tokenizer';
  const family = f['byte-level'] ? 'byte-level' : 'sentencepiece';
  const sizes = inputs.map((path) => {
    try {
      return statSync(path).size;
    } catch {
      throw new ArgumentError('--input', 'a readable text file', JSON.stringify(path));
    }
  });
  const totalMB = Math.max(1, Math.round(sizes.reduce((a, b) => a + b, 0) / 1e6));

  const words = new WordCounter(family);
  const sample: string[] = [];
  let read = 0, sampled = 0;
  const reading = progressBar('count words', 'MB');
  for (const path of inputs) {
    for await (const line of createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity })) {
      words.add(line);
      const bytes = Buffer.byteLength(line) + 1;
      read += bytes;
      if (sampled < SAMPLE_BYTES && line !== '') {
        sample.push(line);
        sampled += bytes;
      }
      reading.update(Math.min(totalMB, Math.round(read / 1e6)), totalMB);
    }
  }
  reading.finish();
  const learning = progressBar('learn merges', 'merges');
  const trained = trainTokenizer(words, vocabSize, (done, total) => { if (done % 50 === 0 || done === total) learning.update(done, total); });
  const seconds = learning.finish();

  mkdirSync(out, { recursive: true });
  const json = trained.spm ? sentencePieceTokenizerJson(trained.spm) : byteLevelTokenizerJson(trained.byteLevel!, LLAMA3_PATTERN);
  writeFileAtomic(join(out, 'tokenizer.json'), `${JSON.stringify(json)}\n`);
  const config = tokenizerConfigJson(trained.tokenizer, 4096, trained.spm ? '<unk>' : undefined);
  writeFileAtomic(join(out, 'tokenizer_config.json'), `${JSON.stringify(config, null, 1)}\n`);

  let tokens = 0, bytes = 0;
  for (const line of sample) {
    tokens += trained.tokenizer.encode(line).length;
    bytes += Buffer.byteLength(line);
  }
  const short = trained.tokenizer.vocabSize < vocabSize ? ` (no pair left to merge before ${vocabSize})` : '';
  process.stdout.write(`${family} BPE, vocabulary ${trained.tokenizer.vocabSize}${short}, ${words.counts.size} distinct words, merges learned in ${seconds.toFixed(1)} s\n`);
  process.stdout.write(`compression: ${(bytes / tokens).toFixed(3)} bytes per token on ${(bytes / 1e6).toFixed(2)} MB of the input\n`);
  process.stdout.write(`wrote ${join(out, 'tokenizer.json')} and tokenizer_config.json\n`);
  return 0;
}
