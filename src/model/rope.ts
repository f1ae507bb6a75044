import { headDim, type LlamaConfig } from './config.js';

/**
 * The RoPE inverse frequencies invFreq[i] = theta^(-2i/Dh), i < Dh/2, with the config's long-context scaling.
 * Computed in f64 and rounded to f32 once (transformers computes them in f32; the difference is below 1 ulp).
 */
export function ropeInverseFrequencies(c: LlamaConfig): Float32Array {
  const dh = headDim(c);
  const base = Array.from({ length: dh / 2 }, (_, i) => 1 / c.ropeTheta ** ((2 * i) / dh));
  const s = c.ropeScaling;
  let scaled = base;
  if (s?.type === 'linear') scaled = base.map((f) => f / s.factor);
  else if (s?.type === 'frequencyFactors') scaled = base.map((f, i) => f / s.factors[i]!);
  else if (s?.type === 'llama3') scaled = base.map((f) => llama3Frequency(f, s));
  return Float32Array.from(scaled);
}

/**
 * Llama 3.1 scaling of one frequency: wavelengths longer than original/lowFreqFactor are slowed by `factor`,
 * shorter than original/highFreqFactor are kept, and those between interpolate smoothly.
 */
function llama3Frequency(
  f: number,
  s: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number },
): number {
  const wavelen = (2 * Math.PI) / f;
  const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  if (wavelen > lowFreqWavelen) return f / s.factor;
  if (wavelen < highFreqWavelen) return f;
  const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
  return (1 - smooth) * (f / s.factor) + smooth * f;
}
