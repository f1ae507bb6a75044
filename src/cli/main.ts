#!/usr/bin/env node
/** The `llamats` command line. The only module that reads argv; everything else takes typed arguments. */
import { parseArgs } from 'node:util';
import { ArgumentError, LlamatsError } from '../core/errors.js';
import { runGenerate } from './generate-command.js';
import { runInit } from './init-command.js';
import { runPerplexity } from './perplexity-command.js';
import { runPrepare } from './prepare-command.js';
import { runQuantize } from './quantize-command.js';
import { runDetokenize, runTokenize } from './tokenize-command.js';
import { runTokenizerTrain } from './tokenizer-command.js';
import { runTrain } from './train-command.js';

const usage = `llamats: the LLaMA system in TypeScript

Usage:
  llamats train [--data DIR | --text FILE] [--tokenizer bytes|PATH] [--config PRESET|FILE] [--init MODEL]
                [--out DIR] [--resume DIR] [--steps N] [--batch B] [--seq-len T] [--accum N] [--lr LR]
                [--warmup N] [--min-lr-ratio R] [--weight-decay W] [--beta1 B] [--beta2 B] [--eps E] [--clip C]
                [--decay-embeddings true|false] [--decay-norms true|false] [--seed S] [--recompute] [--dropout P]
                [--eval-every N] [--eval-windows N] [--save-every N] [--samples N] [--backend B] [--threads N]
                [--precision fp32|f16x3|mixed] [--power WATTS] [--pue P] [--carbon-intensity KG_PER_KWH]
      Pre-trains a LLaMA with the paper's recipe (AdamW 0.9/0.95, eps 1e-8, weight decay 0.1 on matrices, warmup
      then cosine to 10%, clip 1.0). With no flags: a small LLaMA on the built-in tiny Shakespeare, bytes as tokens,
      into runs/shakespeare (about 5 minutes on 2 cores), then validation bits per byte and samples. OUT gets
      model.safetensors + config.json + tokenizer.json (a Hugging Face folder), checkpoints/, metrics.jsonl,
      loss.svg and summary.json (FLOPs, time, energy, CO2). --resume OUT continues the run exactly; --init starts
      from any F32/F16/BF16 model. With --backend webgpu and no --config or --init, the defaults are the GPU
      quickstart's: a 10.8M-parameter model (shakespeare-gpu), 64 x 256 tokens a step, lr 1e-3, --dropout 0.2
      (default 0 elsewhere), 1100 steps (73-85 s on an H100). --precision mixed (webgpu): matrix products
      in f16 with f32 sums (tensor cores where the GPU offers them) and dynamic loss scaling; weights stay f32.
  llamats prepare [--input FILE]... [--tokenizer bytes|PATH] [--out DIR] [--val-fraction F]
      Tokenizes text files (streaming) into token shards for train --data: train.bin, val.bin (uint16/uint32 ids)
      and meta.json. The last F (default 0.1) of each file is the validation split. Defaults: the built-in corpus,
      bytes as tokens, data/tinyshakespeare.
  llamats [generate] [--model PATH] [--tokenizer PATH] [--prompt TEXT] [--max-tokens N]
                     [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R]
                     [--seed S] [--json-stats FILE] [--backend cpu|webgpu|reference] [--threads N]
      Streams the prompt and its continuation to stdout, timing to stderr. With no --model, the built-in
      stories260K model (llama2.c, TinyStories) tells a story. PATH: a llama2.c .bin, a .gguf or a Hugging Face
      folder. --temperature 0 is greedy. Defaults: --temperature 1 --top-p 0.9 --max-tokens 256.
      --backend cpu (default) runs the WASM SIMD kernels on --threads threads (default: all cores);
      --backend webgpu runs WGSL kernels on the GPU (WebGPU; in Node the optional webgpu package);
      --backend reference runs the plain TypeScript reference kernels.
  llamats perplexity --model PATH [--tokenizer PATH] (--text-file F | --ids-file F.json)
                     [--save-logits OUT.safetensors] [--kl-divergence-base BASE.safetensors] [--context N]
                     [--backend cpu|webgpu|reference] [--threads N]
      Prints "perplexity: X" last. --ids-file holds token ids (an array, or an array of arrays), fed as they are;
      a text is cut into windows of --context tokens (default the model's context). --kl-divergence-base takes the
      logits a base model saved with --save-logits on the same input and reports the KL divergence from it.
  llamats init --preset NAME --out FILE.gguf [--dtype f32|f16|q8_0|q4_0|q4_k|q6_k] [--seed S]
      Writes a GGUF of a preset's shape (smollm-135m, tinyllama-1.1b, stories260k, test-tiny) with seeded random
      weights N(0, 0.02) and a synthetic vocabulary, which llama.cpp also loads. Default --dtype f32 --seed 0.
  llamats quantize IN OUT --type q8_0|q4_0|q4_k|q6_k|f16|f32 [--tokenizer PATH]
      Rewrites any model PATH as a GGUF of that type (norms stay f32; the output matrix is q6_k in q4/q6 files).
      The vocabulary comes from IN's GGUF, or --tokenizer (a .gguf or llama2.c tokenizer.bin), or tokenizer.bin
      beside a .bin.
  llamats tokenize --tokenizer PATH (--text S | --file F | --jsonl F) [--bos] [--eos] [--parse-special]
      Prints the ids as a JSON array; --jsonl reads one JSON string per line and prints one array per line.
      --parse-special reads special-token text (<|eot_id|>) as the special token; by default it is plain text.
  llamats detokenize --tokenizer PATH --ids '[1, 15043]'
      Prints the text of the ids. PATH for both: a tokenizer.json, a tokenizer.model (SentencePiece or Llama 3's
      tiktoken file), a llama2.c tokenizer.bin, a GGUF, or a model folder.
  llamats tokenizer train [--input FILE]... [--vocab-size N] [--out DIR] [--byte-level]
      Trains a BPE tokenizer the way LLaMA's was made (SentencePiece BPE: dummy prefix, split digits, byte
      fallback, one script per piece), or with --byte-level as LLaMA 3's (Meta's regex, bytes). Streams the input
      into word counts. Writes DIR/tokenizer.json + tokenizer_config.json (transformers loads them) and prints the
      compression. Defaults: the built-in corpus (tiny Shakespeare + a TinyStories sample), 4096, runs/tokenizer.
  llamats --help
`;

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === 'help' || argv.some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(usage);
    return 0;
  }
  const command = first && !first.startsWith('-') ? first : 'generate';
  const rest = command === first ? argv.slice(1) : argv;
  if (command === 'generate') return runGenerate(parse(rest, generateFlags));
  if (command === 'perplexity') return runPerplexity(parse(rest, perplexityFlags));
  if (command === 'prepare') return runPrepare(parseArgs({ args: rest, options: prepareFlags, strict: true }).values);
  if (command === 'train') return runTrain(parseArgs({ args: rest, options: trainFlags, strict: true }).values);
  if (command === 'init') return runInit(parse(rest, initFlags));
  if (command === 'tokenize') return runTokenize(parseArgs({ args: rest, options: tokenizeFlags, strict: true }).values);
  if (command === 'tokenizer') {
    if (rest[0] !== 'train') throw new ArgumentError('tokenizer', 'the subcommand "train"', JSON.stringify(rest[0] ?? ''));
    return runTokenizerTrain(parseArgs({ args: rest.slice(1), options: tokenizerTrainFlags, strict: true }).values);
  }
  if (command === 'detokenize') return runDetokenize(parse(rest, { tokenizer: str, ids: str }));
  if (command === 'quantize') {
    const { values, positionals } = parseArgs({ args: rest, options: quantizeFlags, strict: true, allowPositionals: true });
    return runQuantize(positionals, values);
  }
  process.stderr.write(`llamats: unknown command "${command}"\n\n${usage}`);
  return 2;
}

const str = { type: 'string' } as const;
const generateFlags = {
  model: str, tokenizer: str, prompt: str, 'max-tokens': str, temperature: str, 'top-k': str, 'top-p': str,
  'min-p': str, 'repetition-penalty': str, seed: str, 'json-stats': str, backend: str, threads: str,
};
const perplexityFlags = {
  model: str, tokenizer: str, 'text-file': str, 'ids-file': str, 'save-logits': str, backend: str, threads: str,
  'kl-divergence-base': str, context: str,
};
const prepareFlags = { input: { type: 'string', multiple: true }, tokenizer: str, out: str, 'val-fraction': str } as const;
const trainFlags = {
  data: str, text: str, tokenizer: str, config: str, out: str, resume: str, init: str, steps: str, batch: str,
  'seq-len': str, accum: str, lr: str, warmup: str, 'min-lr-ratio': str, 'weight-decay': str, beta1: str, beta2: str,
  eps: str, clip: str, 'decay-embeddings': str, 'decay-norms': str, seed: str, recompute: { type: 'boolean' }, dropout: str,
  'eval-every': str, 'eval-windows': str, 'save-every': str, samples: str, backend: str, threads: str, precision: str,
  power: str, pue: str, 'carbon-intensity': str,
} as const;
const initFlags = { preset: str, out: str, dtype: str, seed: str };
const quantizeFlags = { type: str, tokenizer: str };
const tokenizerTrainFlags = { input: { type: 'string', multiple: true }, 'vocab-size': str, out: str, 'byte-level': { type: 'boolean' } } as const;
const tokenizeFlags = {
  tokenizer: str, text: str, file: str, jsonl: str, bos: { type: 'boolean' }, eos: { type: 'boolean' }, 'parse-special': { type: 'boolean' },
} as const;

function parse<T extends Record<string, typeof str>>(args: string[], options: T): Partial<Record<keyof T, string>> {
  return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Partial<Record<keyof T, string>>;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    const parseError = (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    if (e instanceof LlamatsError || parseError) {
      process.stderr.write(`llamats: ${(e as Error).message}\n${parseError ? `\n${usage}` : ''}`);
      process.exitCode = parseError ? 2 : 1;
    } else {
      throw e;
    }
  },
);
