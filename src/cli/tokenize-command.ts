import { readFileSync } from 'node:fs';
import { ArgumentError } from '../core/errors.js';
import { loadTokenizer } from '../io/load-tokenizer.js';
import { requiredFlag } from './flags.js';

export interface TokenizeFlags {
  tokenizer?: string; text?: string; file?: string; jsonl?: string; bos?: boolean; eos?: boolean; 'parse-special'?: boolean;
}

/**
 * `llamats tokenize --tokenizer PATH (--text S | --file F | --jsonl F)`: the ids as a JSON array; with --jsonl, one
 * JSON string per input line and one JSON array per output line.
 */
export function runTokenize(f: TokenizeFlags): number {
  const tokenizer = loadTokenizer(requiredFlag('tokenizer', f.tokenizer));
  const given = (['text', 'file', 'jsonl'] as const).filter((k) => f[k] !== undefined);
  if (given.length !== 1) throw new ArgumentError('tokenize', 'exactly one of --text, --file, --jsonl', given.length ? given.map((k) => `--${k}`).join(' and ') : 'none');
  const options = { bos: f.bos, eos: f.eos, parseSpecial: f['parse-special'] };
  if (f.jsonl === undefined) {
    const text = f.text ?? readFileSync(f.file!, 'utf8');
    process.stdout.write(`${JSON.stringify(tokenizer.encode(text, options))}\n`);
    return 0;
  }
  const lines = readFileSync(f.jsonl, 'utf8').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out = lines.map((line, i) => {
    let text: unknown;
    try {
      text = JSON.parse(line);
    } catch {
      text = undefined;
    }
    if (typeof text !== 'string') throw new ArgumentError(`--jsonl ${f.jsonl} line ${i + 1}`, 'a JSON string', JSON.stringify(line.slice(0, 60)));
    return JSON.stringify(tokenizer.encode(text, options));
  });
  process.stdout.write(out.map((l) => `${l}\n`).join(''));
  return 0;
}

/** `llamats detokenize --tokenizer PATH --ids '[...]'`: the text of the ids. */
export function runDetokenize(f: { tokenizer?: string; ids?: string }): number {
  const tokenizer = loadTokenizer(requiredFlag('tokenizer', f.tokenizer));
  let ids: unknown;
  try {
    ids = JSON.parse(requiredFlag('ids', f.ids));
  } catch {
    ids = undefined;
  }
  if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id))) throw new ArgumentError('--ids', 'a JSON array of integer ids', JSON.stringify(f.ids));
  process.stdout.write(tokenizer.decode(ids as number[]));
  return 0;
}
