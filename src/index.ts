/** llamats: the public API. */
export { loadModel, readModelWeights, detectFormat, type LoadModelOptions, type ModelFormat } from './io/load-model.js';
export { loadTokenizer, readVocab, tokenizerFromVocab, type LoadTokenizerOptions } from './io/load-tokenizer.js';
export type { Vocab } from './io/gguf-tokenizer.js';
export { generate, type GenerateOptions, type GeneratedToken, type GenerationStats } from './infer/generate.js';
export { sampleToken, argmax, type SamplerOptions } from './infer/sampler.js';
export { perplexity, type PerplexityResult } from './eval/perplexity.js';
export { forward, type LlamaModel, type ForwardOptions } from './model/llama.js';
export { KvCache } from './model/kv-cache.js';
export { Decoder } from './infer/decoder.js';
export { validateConfig, headDim, type LlamaConfig, type RopeScaling } from './model/config.js';
export type { LlamaWeights, LayerWeights } from './model/weights.js';
export type { Tokenizer, StreamDecoder, EncodeOptions } from './tokenizer/tokenizer.js';
export { createSentencePieceBpe, type SpmVocab } from './tokenizer/sentencepiece-bpe.js';
export { createByteLevelBpe, LLAMA3_PATTERN, regexForJs, type ByteLevelBpeVocab } from './tokenizer/byte-level-bpe.js';
export { WordCounter, trainTokenizer, type TrainedTokenizer, type TokenizerFamily } from './tokenizer/tokenizer-trainer.js';
export { readHfTokenizer, sentencePieceTokenizerJson, byteLevelTokenizerJson, tokenizerConfigJson } from './io/hf-tokenizer.js';
export { parseLlama2cTokenizer, readLlama2cTokenizer } from './tokenizer/llama2c-tokenizer.js';
export type { Ops, AdamWStep } from './backend/ops.js';
export { getBackend, backendNames, type BackendName, type BackendOptions } from './backend/registry.js';
export type { Tensor, HostTensor } from './tensor/tensor.js';
export { Rng } from './core/rng.js';
export {
  LlamatsError, FormatError, UnsupportedError, ConfigError, ShapeError, ArgumentError,
} from './core/errors.js';
export { convertModel, writeLlamaGguf, type WeightType } from './io/write-model.js';
export { withWasmQuantizer } from './backend/wasm/quantize.js';
export { blockFormats, dequantizeRow, quantizeRow, type QuantType, type TensorQuantizer } from './core/quant/index.js';
export { Tape, type Gradients } from './autograd/tape.js';
export { recordLoss, evaluateLoss, type Batch } from './train/lm-loss.js';
export { AdamW, llamaAdamW, type AdamWOptions, type Param } from './train/adamw.js';
export { learningRate, type LrSchedule } from './train/schedule.js';
export { train, trainableParams, defaultTrainSettings, type TrainSettings, type TrainRun, type TrainResult } from './train/trainer.js';
export { initialWeights } from './train/init.js';
export { prepareData, type TokenMeta } from './data/prepare.js';
export { openTokenShards, WindowSampler, validationWindows } from './data/loader.js';
export { ByteTokenizer } from './tokenizer/byte-tokenizer.js';
export { writeHfModel } from './io/hf-writer.js';
