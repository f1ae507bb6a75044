/** llamats: the public API. */
export { loadModel, readModelWeights, detectFormat, type LoadModelOptions, type ModelFormat } from './io/load-model.js';
export { loadTokenizer, type LoadTokenizerOptions } from './io/load-tokenizer.js';
export { generate, type GenerateOptions, type GeneratedToken, type GenerationStats } from './infer/generate.js';
export { sampleToken, argmax, type SamplerOptions } from './infer/sampler.js';
export { perplexity, type PerplexityResult } from './eval/perplexity.js';
export { forward, type LlamaModel, type ForwardOptions } from './model/llama.js';
export { KvCache } from './model/kv-cache.js';
export { validateConfig, headDim, type LlamaConfig, type RopeScaling } from './model/config.js';
export type { LlamaWeights, LayerWeights } from './model/weights.js';
export type { Tokenizer, StreamDecoder, EncodeOptions } from './tokenizer/tokenizer.js';
export { createSentencePieceBpe, type SpmVocab } from './tokenizer/sentencepiece-bpe.js';
export { parseLlama2cTokenizer, readLlama2cTokenizer } from './tokenizer/llama2c-tokenizer.js';
export type { Ops } from './backend/ops.js';
export { getBackend, backendNames, type BackendName, type BackendOptions } from './backend/registry.js';
export type { Tensor, HostTensor } from './tensor/tensor.js';
export { Rng } from './core/rng.js';
export {
  LlamatsError, FormatError, UnsupportedError, ConfigError, ShapeError, ArgumentError,
} from './core/errors.js';
export { convertModel, writeLlamaGguf, type WeightType } from './io/write-model.js';
export { blockFormats, dequantizeRow, quantizeRow, type QuantType } from './core/quant/index.js';
