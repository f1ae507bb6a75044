import { writeFileAtomic } from '../io/atomic-write.js';
import { loadModel } from '../io/load-model.js';
import { assetPath } from '../io/package-paths.js';
import { generate, type GenerationStats } from '../infer/generate.js';
import { backendFlags, numberFlag } from './flags.js';
import { loadTokenizer, tokenizerPathFor } from '../io/load-tokenizer.js';

export interface GenerateFlags {
  backend?: string; threads?: string;
  model?: string; tokenizer?: string; prompt?: string; 'max-tokens'?: string; temperature?: string; 'top-k'?: string;
  'top-p'?: string; 'min-p'?: string; 'repetition-penalty'?: string; seed?: string; 'json-stats'?: string;
}

/** `llamats generate`: stream the prompt and its continuation to stdout, timing to stderr. */
export async function runGenerate(f: GenerateFlags): Promise<number> {
  const builtIn = f.model === undefined;
  const modelPath = f.model ?? assetPath('stories260K', 'stories260K.bin');
  const tokenizerPath = f.tokenizer ?? (builtIn ? assetPath('stories260K', 'tok512.bin') : undefined);
  const model = await loadModel(modelPath, backendFlags(f));
  const tokenizer = loadTokenizer(tokenizerPathFor(modelPath, tokenizerPath), { vocabSize: model.config.vocabSize });
  const prompt = f.prompt ?? '';
  const run = generate(model, tokenizer, prompt, {
    maxTokens: numberFlag('max-tokens', f['max-tokens'], true),
    temperature: numberFlag('temperature', f.temperature) ?? 1,
    topK: numberFlag('top-k', f['top-k'], true),
    topP: numberFlag('top-p', f['top-p']) ?? 0.9,
    minP: numberFlag('min-p', f['min-p']),
    repetitionPenalty: numberFlag('repetition-penalty', f['repetition-penalty']),
    seed: numberFlag('seed', f.seed, true),
  });
  process.stdout.write(prompt);
  let result = await run.next();
  while (!result.done) {
    process.stdout.write(result.value.text);
    result = await run.next();
  }
  process.stdout.write('\n');
  model.ops.dispose();
  reportStats(result.value, f['json-stats']);
  return 0;
}

function reportStats(s: GenerationStats, jsonFile: string | undefined): void {
  const stats = {
    prefillTokens: s.prefillTokens,
    prefillTokensPerSecond: s.prefillTokens / s.prefillSeconds,
    decodeTokens: s.decodeTokens,
    decodeTokensPerSecond: s.decodeTokens ? s.decodeTokens / s.decodeSeconds : 0,
    stopReason: s.stopReason,
    seed: s.seed,
  };
  process.stderr.write(
    `prefill: ${stats.prefillTokens} tokens, ${stats.prefillTokensPerSecond.toFixed(1)} tokens/s; ` +
      `decode: ${stats.decodeTokens} tokens, ${stats.decodeTokensPerSecond.toFixed(1)} tokens/s; ` +
      `stop: ${stats.stopReason}; seed: ${stats.seed}\n`,
  );
  if (jsonFile) writeFileAtomic(jsonFile, JSON.stringify(stats, null, 2) + '\n');
}
