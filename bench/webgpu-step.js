// `node bench/webgpu-step.js [PRECISION] [STEPS] [BATCH] [SEQ]`: where the time of one training step of the 134M model
// (defaults: fp32, 6 steps, batch 16 x 1024) goes on the GPU backend: recording the forward and the backward (host
// time; the GPU runs behind it), waiting for the loss (the GPU finishing), and the optimizer (gradient norm and AdamW).
// Random tokens; a learning rate small enough that nothing diverges. Step 0 includes compiling the kernels.
import { AdamW, getBackend, initialWeights, llamaAdamW, recordLoss, Tape, trainableParams } from '../dist/index.js';
import { ropeInverseFrequencies } from '../dist/model/rope.js';
import { uploadWeights } from '../dist/model/weights.js';

const [precision = 'fp32', steps = '6', B = '16', T = '1024'] = process.argv.slice(2);
const config = {
  dim: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, hiddenDim: 2048, vocabSize: 32000, maxSeqLen: Number(T), normEps: 1e-5,
  ropeTheta: 10000, ropeScaling: null, tieEmbeddings: false,
};
const ops = await getBackend('webgpu', { precision });
const inv = ropeInverseFrequencies(config);
const model = { config, ops, weights: uploadWeights(ops, config, initialWeights(config, 1), '134M'), invFreq: ops.fromHost(inv, [inv.length]) };
const optimizer = new AdamW(ops, trainableParams(model, { decayEmbeddings: true, decayNorms: false }), llamaAdamW);
const tokens = Number(B) * Number(T);
const lossScale = precision === 'mixed' ? 65536 : 1;
const ids = () => Int32Array.from({ length: tokens }, () => Math.floor(Math.random() * config.vocabSize));
for (let step = 0; step < Number(steps); step++) {
  const t0 = performance.now();
  const grads = new Map();
  const tape = new Tape(ops, grads);
  const loss = recordLoss(tape, model, { inputs: ids(), targets: ids(), batch: Number(B), seqLen: Number(T) }, lossScale / tokens);
  const t1 = performance.now();
  tape.backward();
  const t2 = performance.now();
  const value = (await ops.read(loss))[0] / tokens;
  const t3 = performance.now();
  tape.dispose();
  await optimizer.update(grads, 1e-4, lossScale);
  const t4 = performance.now();
  const ms = (a, b) => `${(b - a).toFixed(0)} ms`;
  console.log(`step ${step}: loss ${value.toFixed(3)}; record forward ${ms(t0, t1)}, backward ${ms(t1, t2)}; wait ${ms(t2, t3)}; optimizer ${ms(t3, t4)}; ` +
    `total ${ms(t0, t4)}, ${((tokens / (t4 - t0)) * 1000).toFixed(0)} tokens/s`);
}
optimizer.dispose();
ops.dispose();
