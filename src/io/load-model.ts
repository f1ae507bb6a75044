import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { getBackend, type BackendName, type BackendOptions } from '../backend/registry.js';
import type { Ops } from '../backend/ops.js';
import { FormatError } from '../core/errors.js';
import { validateConfig, type LlamaConfig } from '../model/config.js';
import type { LlamaModel } from '../model/llama.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import { uploadWeights } from '../model/weights.js';
import type { EncodedTensor, HostTensor } from '../tensor/tensor.js';
import { inputName, type FileInput } from './byte-source.js';
import { openGgufModel, readAll, type OpenedWeights } from './gguf-model.js';
import { openHfFolder } from './hf-model.js';
import { readLlama2cCheckpoint } from './llama2c.js';

export type ModelFormat = 'llama2c' | 'gguf' | 'hf';

export interface LoadModelOptions extends BackendOptions {
  /** A backend name (a new backend, which the model owns: `model.ops.dispose()`) or instance; default `cpu`. */
  backend?: BackendName | Ops;
}

/**
 * Which format a path holds: a folder is a Hugging Face model, a file starting with "GGUF" a GGUF, else a `.bin`.
 * Bytes in memory are a GGUF or, named `.bin`, a llama2.c checkpoint.
 */
export function detectFormat(input: FileInput): ModelFormat {
  if (typeof input !== 'string') return formatOf(input.name, input.bytes.subarray(0, 4));
  const path = input;
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new FormatError(path, 'path', 'a .bin file, a .gguf file or a Hugging Face folder', 'nothing at this path');
  }
  if (stat.isDirectory()) return 'hf';
  const magic = Buffer.alloc(4);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, magic, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  return formatOf(path, magic);
}

function formatOf(path: string, magic: Uint8Array): ModelFormat {
  if (String.fromCharCode(...magic) === 'GGUF') return 'gguf';
  if (path.endsWith('.bin')) return 'llama2c';
  throw new FormatError(path, 'format', 'a llama2.c .bin, a GGUF (magic "GGUF") or a Hugging Face folder',
    `a file starting with bytes ${[...magic].map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
}

/** Open a model in any supported format for reading its tensors one at a time (our names, interleaved RoPE). */
export function openModelWeights(input: FileInput): OpenedWeights & { format: ModelFormat } {
  const format = detectFormat(input);
  const path = inputName(input);
  if (format === 'hf') return { ...openHfFolder(path), format };
  if (format === 'gguf') return { ...openGgufModel(input), format };
  const { header, tensors } = readLlama2cCheckpoint(input);
  const config = validateConfig({
    dim: header.dim, nLayers: header.nLayers, nHeads: header.nHeads, nKvHeads: header.nKvHeads,
    hiddenDim: header.hiddenDim, vocabSize: header.vocabSize, maxSeqLen: header.seqLen,
    normEps: Math.fround(1e-5) /* run.c adds 1e-5f */, ropeTheta: 10000, ropeScaling: null, tieEmbeddings: header.sharedClassifier,
  }, path);
  return { config, tensors: new Map([...tensors].map(([name, t]) => [name, () => t])), dispose: () => {}, format };
}

/** Read a model's config and all its tensors into memory (our names, interleaved RoPE layout). */
export function readModelWeights(input: FileInput): { config: LlamaConfig; tensors: Map<string, HostTensor | EncodedTensor>; format: ModelFormat } {
  const opened = openModelWeights(input);
  return { ...readAll(opened), format: opened.format };
}

/**
 * Load a LLaMA from a llama2.c `.bin`, a GGUF or a Hugging Face folder onto a backend; in a browser, from a GGUF's
 * (or `.bin`'s) bytes. Tensors are read and uploaded one at a time, so peak memory stays near the model's size on
 * the backend plus its largest tensor.
 */
export async function loadModel(input: FileInput, options: LoadModelOptions = {}): Promise<LlamaModel> {
  const opened = openModelWeights(input);
  const path = inputName(input);
  const owned = typeof options.backend !== 'object';
  const ops = owned ? await getBackend(options.backend as BackendName | undefined, options) : (options.backend as Ops);
  try {
    const weights = uploadWeights(ops, opened.config, opened.tensors, path);
    const inv = ropeInverseFrequencies(opened.config);
    return { config: opened.config, ops, weights, invFreq: ops.fromHost(inv, [inv.length]) };
  } catch (e) {
    if (owned) ops.dispose();
    throw e;
  } finally {
    opened.dispose();
  }
}
