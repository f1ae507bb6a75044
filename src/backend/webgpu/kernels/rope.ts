import type { Gpu } from '../gpu.js';

/** direction 1: rotate by +angle (forward); -1: by -angle (backward). */
export function rope(_gpu: Gpu, _out: GPUBuffer, _x: GPUBuffer, _invFreq: GPUBuffer, _batch: number, _time: number, _heads: number, _headDim: number, _startPos: number, _direction: 1 | -1): void {
  throw new Error('TODO rope');
}
