import type { Gpu } from '../gpu.js';

export function embedding(_gpu: Gpu, _out: GPUBuffer, _table: GPUBuffer, _ids: GPUBuffer, _count: number, _vocab: number, _dim: number): void {
  throw new Error('TODO embedding');
}

export function embeddingBackward(_gpu: Gpu, _dtable: GPUBuffer, _dy: GPUBuffer, _ids: GPUBuffer, _count: number, _vocab: number, _dim: number): void {
  throw new Error('TODO embeddingBackward');
}
