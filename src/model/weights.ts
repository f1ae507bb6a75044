import type { Ops } from '../backend/ops.js';
import { FormatError } from '../core/errors.js';
import { shapeToString, type Shape } from '../core/shape.js';
import type { EncodedTensor, HostTensor, Tensor } from '../tensor/tensor.js';
import { headDim, type LlamaConfig } from './config.js';

/** One transformer block's weights, Meta's names; linear weights are (out, in). */
export interface LayerWeights {
  attnNorm: Tensor; // (D)
  wq: Tensor; // (H*Dh, D)
  wk: Tensor; // (Hkv*Dh, D)
  wv: Tensor; // (Hkv*Dh, D)
  wo: Tensor; // (D, H*Dh)
  ffnNorm: Tensor; // (D)
  w1: Tensor; // (F, D) gate
  w2: Tensor; // (D, F) down
  w3: Tensor; // (F, D) up
}

export interface LlamaWeights {
  tokEmbeddings: Tensor; // (V, D)
  layers: LayerWeights[];
  norm: Tensor; // (D)
  output: Tensor; // (V, D); the same tensor as tokEmbeddings when tied
}

/**
 * The host tensors a model of this config needs, by our flat names (`tokEmbeddings`, `layers.0.wq`, ..., `norm`,
 * `output`), with their shapes. Loaders translate their files' names into these.
 */
export function expectedTensors(c: LlamaConfig): Map<string, Shape> {
  const kvDim = c.nKvHeads * headDim(c);
  const shapes = new Map<string, Shape>([['tokEmbeddings', [c.vocabSize, c.dim]]]);
  for (let l = 0; l < c.nLayers; l++) {
    const layer: Record<keyof LayerWeights, Shape> = {
      attnNorm: [c.dim], wq: [c.dim, c.dim], wk: [kvDim, c.dim], wv: [kvDim, c.dim], wo: [c.dim, c.dim],
      ffnNorm: [c.dim], w1: [c.hiddenDim, c.dim], w2: [c.dim, c.hiddenDim], w3: [c.hiddenDim, c.dim],
    };
    for (const [name, shape] of Object.entries(layer)) shapes.set(`layers.${l}.${name}`, shape);
  }
  shapes.set('norm', [c.dim]);
  if (!c.tieEmbeddings) shapes.set('output', [c.vocabSize, c.dim]);
  return shapes;
}

/**
 * Check every tensor the config needs is present with the right shape, and move them onto `ops`, reading lazy ones
 * (functions) one at a time.
 */
export function uploadWeights(
  ops: Ops, c: LlamaConfig, host: ReadonlyMap<string, HostTensor | EncodedTensor | (() => HostTensor | EncodedTensor)>, source: string,
): LlamaWeights {
  const get = (name: string): Tensor => {
    const want = expectedTensors(c).get(name)!;
    const entry = host.get(name);
    const t = typeof entry === 'function' ? entry() : entry;
    if (!t) throw new FormatError(source, `tensor ${name}`, `a tensor of shape ${shapeToString(want)}`, 'none');
    if (shapeToString(t.shape) !== shapeToString(want)) {
      throw new FormatError(source, `tensor ${name}`, `shape ${shapeToString(want)}`, `shape ${shapeToString(t.shape)}`);
    }
    return 'bytes' in t ? ops.fromEncoded(t) : ops.fromHost(t.data, t.shape);
  };
  const tokEmbeddings = get('tokEmbeddings');
  const layers = Array.from({ length: c.nLayers }, (_, l) => {
    const at = (n: keyof LayerWeights) => get(`layers.${l}.${n}`);
    return {
      attnNorm: at('attnNorm'), wq: at('wq'), wk: at('wk'), wv: at('wv'), wo: at('wo'),
      ffnNorm: at('ffnNorm'), w1: at('w1'), w2: at('w2'), w3: at('w3'),
    };
  });
  return { tokEmbeddings, layers, norm: get('norm'), output: c.tieEmbeddings ? tokEmbeddings : get('output') };
}
