import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, UnsupportedError } from '../core/errors.js';
import { validateConfig, type LlamaConfig, type RopeScaling } from '../model/config.js';
import type { EncodedTensor, HostTensor } from '../tensor/tensor.js';
import { asObject, booleanField, numberField, stringField, describe, type JsonObject } from './json-fields.js';
import { readSafetensorsHeader, readSafetensorsIndex, readSafetensorsWeight } from './safetensors.js';
import type { OpenedWeights } from './gguf-model.js';
import { metaNameFromHf, permuteRopeRows } from './tensor-names.js';

/**
 * Open a Hugging Face LLaMA folder: `config.json` + `model.safetensors` or a sharded `model.safetensors.index.json`.
 * Tensors are read when asked for; q/k rows are permuted into our interleaved RoPE layout.
 */
export function openHfFolder(dir: string): OpenedWeights {
  const configFile = join(dir, 'config.json');
  if (!existsSync(configFile)) throw new FormatError(dir, 'config.json', 'a Hugging Face model folder', 'no config.json');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (e) {
    throw new FormatError(configFile, 'JSON', 'valid JSON', (e as Error).message);
  }
  const config = hfConfigToLlama(asObject(json, configFile, '(root)'), configFile);
  const index = join(dir, 'model.safetensors.index.json');
  const single = join(dir, 'model.safetensors');
  const infos = existsSync(index) ? readSafetensorsIndex(index) : existsSync(single) ? readSafetensorsHeader(single) : null;
  if (!infos) throw new FormatError(dir, 'weights', 'model.safetensors or model.safetensors.index.json', 'neither');
  const tensors = new Map<string, () => HostTensor | EncodedTensor>();
  for (const [name, info] of infos) {
    const ours = metaNameFromHf(name);
    if (!ours) continue;
    const heads = ours.endsWith('.wq') ? config.nHeads : ours.endsWith('.wk') ? config.nKvHeads : 0;
    tensors.set(ours, () => (heads ? permuteRopeRows(readSafetensorsWeight(info), heads) : readSafetensorsWeight(info)));
  }
  return { config, tensors, dispose: () => {} };
}

/** transformers' LlamaConfig (4.x `rope_theta` + `rope_scaling`, or 5.x `rope_parameters`) -> ours. */
export function hfConfigToLlama(c: JsonObject, file: string): LlamaConfig {
  const modelType = stringField(c, 'model_type', file, 'llama');
  if (modelType !== 'llama') throw new UnsupportedError(file, 'model_type', `model type ${describe(modelType)}`);
  if (stringField(c, 'hidden_act', file, 'silu') !== 'silu') throw new UnsupportedError(file, 'hidden_act', describe(c['hidden_act']));
  for (const bias of ['attention_bias', 'mlp_bias']) {
    if (booleanField(c, bias, file, false)) throw new UnsupportedError(file, bias, 'a LLaMA with biases');
  }
  const nHeads = numberField(c, 'num_attention_heads', file);
  const dim = numberField(c, 'hidden_size', file);
  const rope = c['rope_parameters'] === undefined ? null : asObject(c['rope_parameters'], file, 'rope_parameters');
  const config: LlamaConfig = {
    dim,
    nLayers: numberField(c, 'num_hidden_layers', file),
    nHeads,
    nKvHeads: numberField(c, 'num_key_value_heads', file, nHeads),
    hiddenDim: numberField(c, 'intermediate_size', file),
    vocabSize: numberField(c, 'vocab_size', file),
    maxSeqLen: numberField(c, 'max_position_embeddings', file),
    normEps: numberField(c, 'rms_norm_eps', file, 1e-6),
    ropeTheta: rope ? numberField(rope, 'rope_theta', file, 10000) : numberField(c, 'rope_theta', file, 10000),
    ropeScaling: ropeScaling(rope ?? (c['rope_scaling'] == null ? null : asObject(c['rope_scaling'], file, 'rope_scaling')), file),
    tieEmbeddings: booleanField(c, 'tie_word_embeddings', file, false),
  };
  validateConfig(config, file);
  if (c['head_dim'] != null && numberField(c, 'head_dim', file) * nHeads !== dim) {
    throw new UnsupportedError(file, 'head_dim', `head_dim ${describe(c['head_dim'])} != hidden_size / num_attention_heads`);
  }
  return config;
}

function ropeScaling(r: JsonObject | null, file: string): RopeScaling | null {
  if (!r) return null;
  const type = stringField(r, 'rope_type', file, typeof r['type'] === 'string' ? r['type'] : 'default');
  if (type === 'default') return null;
  if (type === 'linear') return { type, factor: numberField(r, 'factor', file) };
  if (type === 'llama3') {
    return {
      type,
      factor: numberField(r, 'factor', file),
      lowFreqFactor: numberField(r, 'low_freq_factor', file),
      highFreqFactor: numberField(r, 'high_freq_factor', file),
      originalMaxPositionEmbeddings: numberField(r, 'original_max_position_embeddings', file),
    };
  }
  throw new UnsupportedError(file, 'rope_type', `rope scaling ${describe(type)}`);
}
