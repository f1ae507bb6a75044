import { statSync } from 'node:fs';
import { withWasmQuantizer } from '../backend/wasm/quantize.js';
import { ArgumentError } from '../core/errors.js';
import { weightTypes, writeLlamaGguf, type WeightType } from '../io/write-model.js';
import { presetConfig } from '../model/presets.js';
import { randomWeights, syntheticVocab } from '../model/random-init.js';
import { numberFlag, requiredFlag } from './flags.js';
import { progressBar, writeProgress } from './progress-bar.js';

export interface InitFlags {
  preset?: string; out?: string; dtype?: string; seed?: string;
}

/** `llamats init`: a GGUF of a preset's shape with seeded random weights and a synthetic vocabulary. */
export async function runInit(f: InitFlags): Promise<number> {
  const preset = requiredFlag('preset', f.preset);
  const out = requiredFlag('out', f.out);
  const dtype = weightTypeFlag('dtype', f.dtype ?? 'f32');
  const seed = numberFlag('seed', f.seed, true) ?? 0;
  const config = presetConfig(preset);
  const bar = progressBar(`init ${preset} ${dtype}`, 'MB');
  await withWasmQuantizer((kQuantizer) => writeLlamaGguf(out, {
    config, tensors: randomWeights(config, seed), vocab: syntheticVocab(config.vocabSize), dtype,
    name: `${preset} (random init, seed ${seed})`, kQuantizer, onProgress: writeProgress(bar),
  }));
  reportWritten(out, bar.finish());
  return 0;
}

/** A --dtype/--type value: one of the weight types we write. */
export function weightTypeFlag(flag: string, value: string): WeightType {
  const type = value.toLowerCase();
  if (!weightTypes.includes(type as WeightType)) throw new ArgumentError(`--${flag}`, `one of ${weightTypes.join(', ')}`, JSON.stringify(value));
  return type as WeightType;
}

export function reportWritten(path: string, seconds: number): void {
  const mb = statSync(path).size / 1e6;
  process.stderr.write(`wrote ${path}: ${mb.toFixed(1)} MB in ${seconds.toFixed(1)} s\n`);
}
