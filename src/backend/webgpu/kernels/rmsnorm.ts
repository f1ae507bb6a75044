import type { Gpu } from '../gpu.js';

export function rmsnorm(_gpu: Gpu, _out: GPUBuffer, _x: GPUBuffer, _weight: GPUBuffer, _rows: number, _dim: number, _eps: number): void {
  throw new Error('TODO rmsnorm');
}

export function rmsnormBackward(_gpu: Gpu, _dx: GPUBuffer, _dweight: GPUBuffer, _dy: GPUBuffer, _x: GPUBuffer, _weight: GPUBuffer, _rows: number, _dim: number, _eps: number): void {
  throw new Error('TODO rmsnormBackward');
}
