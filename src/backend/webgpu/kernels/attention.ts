import type { Gpu } from '../gpu.js';

export interface AttentionDims { batch: number; time: number; heads: number; kvHeads: number; headDim: number }

export function attention(_gpu: Gpu, _out: GPUBuffer, _q: GPUBuffer, _k: GPUBuffer, _v: GPUBuffer, _dims: AttentionDims & { cacheLen: number; startPos: number }): void {
  throw new Error('TODO attention');
}

export function attentionBackward(_gpu: Gpu, _grads: { dq: GPUBuffer; dk: GPUBuffer; dv: GPUBuffer }, _dy: GPUBuffer, _q: GPUBuffer, _k: GPUBuffer, _v: GPUBuffer, _dims: AttentionDims): void {
  throw new Error('TODO attentionBackward');
}
