import type { Gpu } from '../gpu.js';

export function crossEntropyScratch(_rows: number, _vocab: number): number {
  return 1;
}

export function crossEntropy(_gpu: Gpu, _loss: GPUBuffer, _x: GPUBuffer, _w: GPUBuffer, _targets: GPUBuffer, _scratch: GPUBuffer, _rows: number, _dim: number, _vocab: number, _grads?: { dx: GPUBuffer; dw: GPUBuffer; scale: number }): void {
  throw new Error('TODO crossEntropy');
}
