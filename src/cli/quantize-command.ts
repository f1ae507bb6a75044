import { ArgumentError } from '../core/errors.js';
import { convertModel } from '../io/write-model.js';
import { reportWritten, weightTypeFlag } from './init-command.js';
import { requiredFlag } from './flags.js';
import { createProgressBar } from './progress.js';

export interface QuantizeFlags {
  type?: string; tokenizer?: string;
}

/** `llamats quantize IN OUT --type T`: rewrite any model we read as a GGUF of that weight type. */
export function runQuantize(positionals: string[], f: QuantizeFlags): number {
  if (positionals.length !== 2) {
    throw new ArgumentError('quantize', 'two paths, IN and OUT', positionals.length ? positionals.map((p) => JSON.stringify(p)).join(' ') : 'none');
  }
  const [inPath, outPath] = positionals as [string, string];
  const dtype = weightTypeFlag('type', requiredFlag('type', f.type));
  const bar = createProgressBar(`quantize ${dtype}`);
  convertModel(inPath, outPath, { dtype, tokenizer: f.tokenizer, onProgress: bar.update });
  reportWritten(outPath, bar.finish());
  return 0;
}
