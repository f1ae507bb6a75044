/**
 * The starting weights of a model trained from scratch, seeded. Every matrix ~ N(0, 0.02^2) (GPT-2's and the
 * LLaMA reference code's `initializer_range`), except the two projections that write into the residual stream
 * (wo and w2), which get std 0.02 / sqrt(2 * layers) (GPT-2 section 2.3): each block adds two such outputs to the
 * stream, so this keeps the stream's variance from growing with depth at the start. Norm gains start at 1.
 */
import type { LlamaConfig } from '../model/config.js';
import { randomWeights } from '../model/random-init.js';
import type { HostTensor } from '../tensor/tensor.js';

export const initStd = 0.02;

export function initialWeights(config: LlamaConfig, seed: number): Map<string, HostTensor> {
  const residualScale = 1 / Math.sqrt(2 * config.nLayers);
  const out = new Map<string, HostTensor>();
  for (const [name, make] of randomWeights(config, seed, initStd)) {
    const t = make();
    if (/\.(wo|w2)$/.test(name)) t.data.forEach((x, i, a) => (a[i] = x * residualScale));
    out.set(name, t);
  }
  return out;
}
