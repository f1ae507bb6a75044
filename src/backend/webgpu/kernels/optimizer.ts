import type { AdamWStep } from '../../ops.js';
import type { Gpu } from '../gpu.js';

export function sumSquares(_gpu: Gpu, _out: GPUBuffer, _x: GPUBuffer, _n: number): void {
  throw new Error('TODO sumSquares');
}

export function adamw(_gpu: Gpu, _param: GPUBuffer, _grad: GPUBuffer, _m: GPUBuffer, _v: GPUBuffer, _n: number, _hp: AdamWStep): void {
  throw new Error('TODO adamw');
}
