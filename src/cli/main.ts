#!/usr/bin/env node
/** The `llamats` command line. The only module that reads argv; everything else takes typed arguments. */
import { parseArgs } from 'node:util';
import { LlamatsError } from '../core/errors.js';
import { runGenerate } from './generate-command.js';
import { runPerplexity } from './perplexity-command.js';

const usage = `llamats: the LLaMA system in TypeScript

Usage:
  llamats [generate] [--model PATH] [--tokenizer PATH] [--prompt TEXT] [--max-tokens N]
                     [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--repetition-penalty R]
                     [--seed S] [--json-stats FILE]
      Streams the prompt and its continuation to stdout, timing to stderr. With no --model, the built-in
      stories260K model (llama2.c, TinyStories) tells a story. PATH: a llama2.c .bin, a .gguf or a Hugging Face
      folder. --temperature 0 is greedy. Defaults: --temperature 1 --top-p 0.9 --max-tokens 256.
  llamats perplexity --model PATH [--tokenizer PATH] (--text-file F | --ids-file F.json)
                     [--save-logits OUT.safetensors]
      Prints "perplexity: X" last. --ids-file holds token ids (an array, or an array of arrays), fed as they are.
  llamats --help
`;

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === '--help' || first === '-h' || first === 'help') {
    process.stdout.write(usage);
    return 0;
  }
  const command = first && !first.startsWith('-') ? first : 'generate';
  const rest = command === first ? argv.slice(1) : argv;
  if (command === 'generate') return runGenerate(parse(rest, generateFlags));
  if (command === 'perplexity') return runPerplexity(parse(rest, perplexityFlags));
  process.stderr.write(`llamats: unknown command "${command}"\n\n${usage}`);
  return 2;
}

const str = { type: 'string' } as const;
const generateFlags = {
  model: str, tokenizer: str, prompt: str, 'max-tokens': str, temperature: str, 'top-k': str, 'top-p': str,
  'min-p': str, 'repetition-penalty': str, seed: str, 'json-stats': str,
};
const perplexityFlags = { model: str, tokenizer: str, 'text-file': str, 'ids-file': str, 'save-logits': str };

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
