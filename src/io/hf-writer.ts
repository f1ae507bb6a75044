/**
 * Write a model as a Hugging Face LLaMA folder that transformers' LlamaForCausalLM (and vLLM) load as is:
 * `config.json` and `model.safetensors` (f32, HF names, q/k rows in HF's rotate_half layout). Each file is written
 * atomically.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { UnsupportedError } from '../core/errors.js';
import { headDim, type LlamaConfig } from '../model/config.js';
import type { HostTensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic-write.js';
import { writeSafetensors } from './safetensors.js';
import { hfNameFromMeta, permuteRopeRows } from './tensor-names.js';

/** transformers' LlamaConfig JSON for our config (the legacy rope keys, which transformers 4 and 5 both read). */
export function llamaToHfConfig(c: LlamaConfig, extra: { bosTokenId?: number; eosTokenId?: number } = {}): Record<string, unknown> {
  const s = c.ropeScaling;
  const ropeScaling = !s ? null
    : s.type === 'linear' ? { rope_type: 'linear', factor: s.factor }
    : s.type === 'llama3' ? {
      rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    } : unsupported(s.type);
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.hiddenDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: headDim(c),
    hidden_act: 'silu',
    max_position_embeddings: c.maxSeqLen,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: ropeScaling,
    tie_word_embeddings: c.tieEmbeddings,
    vocab_size: c.vocabSize,
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: extra.bosTokenId !== undefined && extra.bosTokenId >= 0 ? extra.bosTokenId : null,
    eos_token_id: extra.eosTokenId !== undefined && extra.eosTokenId >= 0 ? extra.eosTokenId : null,
    torch_dtype: 'float32',
  };
}

/**
 * `dir/config.json` + `dir/model.safetensors` from f32 tensors by our flat names (model/weights.ts). A tied
 * model's `output` is not written (transformers ties lm_head to the embeddings itself).
 */
export function writeHfModel(
  dir: string, config: LlamaConfig, tensors: ReadonlyMap<string, HostTensor>,
  options: { bosTokenId?: number; eosTokenId?: number; metadata?: Record<string, string> } = {},
): void {
  mkdirSync(dir, { recursive: true });
  const out: Record<string, HostTensor> = {};
  for (const [name, t] of tensors) {
    if (name === 'output' && config.tieEmbeddings) continue;
    const heads = name.endsWith('.wq') ? config.nHeads : name.endsWith('.wk') ? config.nKvHeads : 0;
    out[hfNameFromMeta(name)] = heads ? permuteRopeRows(t, heads, true) : t;
  }
  writeSafetensors(join(dir, 'model.safetensors'), out, { format: 'pt', ...options.metadata });
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(llamaToHfConfig(config, options), null, 2) + '\n');
}

function unsupported(type: string): never {
  throw new UnsupportedError('config.json', 'rope_scaling', `writing rope scaling "${type}" as a Hugging Face config`);
}
