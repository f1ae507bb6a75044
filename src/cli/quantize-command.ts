import { withWasmQuantizer } from '../backend/wasm/quantize.js';
import { ArgumentError } from '../core/errors.js';
import { convertModel } from '../io/write-model.js';
import { reportWritten, weightTypeFlag } from './init-command.js';
import { requiredFlag } from './flags.js';
import { progressBar, writeProgress } from './progress-bar.js';

export interface QuantizeFlags {
  type?: string; tokenizer?: string;
}

/** `llamats quantize IN OUT --type T`: rewrite any model we read as a GGUF of that weight type. */
export async function runQuantize(positionals: string[], f: QuantizeFlags): Promise<number> {
  if (positionals.length !== 2) {
    throw new ArgumentError('quantize', 'two paths, IN and OUT', positionals.length ? positionals.map((p) => JSON.stringify(p)).join(' ') : 'none');
  }
  const [inPath, outPath] = positionals as [string, string];
  const dtype = weightTypeFlag('type', requiredFlag('type', f.type));
  const bar = progressBar(`quantize ${dtype}`, 'MB');
  await withWasmQuantizer((kQuantizer) => convertModel(inPath, outPath, { dtype, tokenizer: f.tokenizer, kQuantizer, onProgress: writeProgress(bar) }));
  reportWritten(outPath, bar.finish());
  return 0;
}
