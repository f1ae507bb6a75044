// The WebAssembly kernels: one module, compiled twice (SIMD128, and SIMD128 + relaxed SIMD). Every kernel works on
// raw byte offsets into the one shared memory that JS allocates tensors in; none allocates.
export { matvecF32 } from './matvec';
