// One WGSL kernel per op, forward and backward; each file holds the kernels of one op family.
export { argmax } from './argmax.js';
export { attention, attentionBackward, type AttentionDims } from './attention.js';
export { add, copy, copyColumns, dropout, fill, scale, swiglu, swigluBackward } from './elementwise.js';
export { embedding, embeddingBackward } from './embedding.js';
export { crossEntropy, crossEntropyScratch } from './cross-entropy.js';
export { weightToF32, type WeightType } from './halves.js';
export { matmul, NN, NT, TN, type MatmulInputs } from './matmul.js';
export { isMatvec, matvecBindings, matvecs, type MatvecFusion } from './matvec.js';
export { adamw, sumSquares } from './optimizer.js';
export { rmsnorm, rmsnormBackward } from './rmsnorm.js';
export { rope, ropeBindings, ropeJobs, type RopeJobs } from './rope.js';
export { softmax } from './softmax.js';
