// The WebAssembly kernels: one module, compiled twice (SIMD128, and SIMD128 + relaxed SIMD). Every kernel works on
// raw byte offsets into the one shared memory that JS allocates tensors in, on a caller-given range of rows so
// that threads can split the work, and none allocates.
export { quantizeQ8A4, quantizeQ8G, quantizeQ8K, quantizeQ8S } from './q8a';
export { matvecF32, matvecF16, matvecBF16, matvecQ8_0, matvecQ4_0, matvecQ4_K, matvecQ6_K } from './matvec';
export { matmulF32, matmulDecoded } from './matmul';
export { matmulQ4_0, matmulQ4_K, matmulQ8_0 } from './matmul-int8';
export { rmsnorm, rope, attention, swiglu, add, softmax, sumRows } from './elementwise';
export { transpose, rmsnormBackward, rmsnormWeightGrad, swigluBackward, attentionBackward, crossEntropyRows, scale, sumSquares, adamw } from './backward';
export { relaxedDotProbe } from './simd';
export { quantizeQ4_K, quantizeQ6_K } from './quantize';
export { rebaseF16 } from './rebase';
