/**
 * The pre-training loop of the LLaMA paper: AdamW (β 0.9/0.95, eps 1e-8, weight decay 0.1), linear warmup then
 * cosine decay to 10% of the peak rate, clipping at global norm 1.0, gradient accumulation, optional activation
 * recomputation; periodic validation, metrics, atomic checkpoints, and bit-exact resumption.
 */
import { precisions, type Ops, type Precision } from '../backend/ops.js';
import { Tape, type Gradients } from '../autograd/tape.js';
import { ArgumentError } from '../core/errors.js';
import { mixSeed, type Dropout, type LlamaModel } from '../model/llama.js';
import type { LayerWeights } from '../model/weights.js';
import type { HostTensor, Tensor } from '../tensor/tensor.js';
import { AdamW, llamaAdamW, type AdamWOptions, type Param } from './adamw.js';
import { saveCheckpoint, type TrainerState } from './checkpoint.js';
import { evaluateLoss, recordLoss, scoredCount, type Batch } from './lm-loss.js';
import { INITIAL_LOSS_SCALE, nextLossScale } from './loss-scale.js';
import { learningRate } from './schedule.js';

export interface TrainSettings {
  /** Tokens per window, windows per micro-batch, micro-batches per optimizer step. */
  seqLen: number;
  batch: number;
  accumSteps: number;
  /** Optimizer steps of the whole run (the cosine schedule ends here). */
  steps: number;
  /** Peak learning rate, warmup steps, and the final rate as a fraction of the peak. */
  lr: number;
  warmupSteps: number;
  minLrRatio: number;
  adamw: AdamWOptions;
  /** Weight decay on the embedding table (and a separate output matrix) and on the RMSNorm gains. */
  decayEmbeddings: boolean;
  decayNorms: boolean;
  /** Seeds the initial weights and the data sampler. */
  seed: number;
  /** Keep only each block's input and recompute the rest in the backward pass. */
  recompute: boolean;
  /**
   * Dropout rate on the embeddings and on each residual branch (model/llama.ts), 0 for none (LLaMA's recipe). The
   * masks are drawn from (seed, step, micro-batch), so a resumed run draws the same ones.
   */
  dropout: number;
  /**
   * 'mixed': matrix products in f16 with f32 sums, on a backend made with that precision, with dynamic loss scaling
   * (loss-scale.ts); the weights, their gradients and the optimizer stay f32. 'f16x3': everything f32, the products
   * on tensor cores to 22 of f32's 24 bits (ops.ts), no loss scaling. 'fp32' (LLaMA's recipe ran bf16).
   */
  precision: Precision;
  /** Validate every N steps on `evalWindows` windows (the full validation set at the end); checkpoint every N. */
  evalEvery: number;
  evalWindows: number;
  saveEvery: number;
}

/**
 * The defaults are the quickstart's: 1600 steps of 8 x 128 tokens (1.6M tokens, about 5 minutes for the
 * `shakespeare` preset on 2 cores) at a peak rate of 6e-3, high for LLaMA's sizes but right for a 0.9M-parameter
 * model with so few steps.
 */
export const defaultTrainSettings: TrainSettings = {
  seqLen: 128, batch: 8, accumSteps: 1, steps: 1600, lr: 6e-3, warmupSteps: 100, minLrRatio: 0.1,
  adamw: llamaAdamW, decayEmbeddings: true, decayNorms: false, seed: 1337, recompute: false, dropout: 0, precision: 'fp32',
  evalEvery: 200, evalWindows: 64, saveEvery: 400,
};

/**
 * The GPU quickstart's (`shakespeare-gpu` preset): 64 x 256 tokens a step and dropout 0.2, as nanoGPT's baby model
 * on a GPU (without dropout it overfits tiny Shakespeare within 500 steps), at nanoGPT's peak rate of 1e-3. 1100
 * steps: on an H100 (82 s), the full validation set gave 2.1156 bits per byte; 1500 steps gave 2.1228 (it overfits
 * by then), and 1100 steps without the dropout on attention probabilities 2.1505.
 */
export const gpuTrainSettings: TrainSettings = {
  ...defaultTrainSettings, seqLen: 256, batch: 64, steps: 1100, lr: 1e-3, warmupSteps: 100, dropout: 0.2, evalEvery: 250, saveEvery: 250,
};

/** Token windows drawn for training; `state` restores the position exactly. */
export interface BatchSampler {
  next(): { inputs: Int32Array; targets: Int32Array };
  state: unknown;
}

export interface TrainData {
  sampler: BatchSampler;
  /** The validation split as consecutive windows (the last may be shorter), each (inputs, targets). */
  validation: { inputs: Int32Array; targets: Int32Array }[];
  /** UTF-8 bytes of validation text per validation token, for bits per byte. */
  bytesPerValToken: number;
}

/** What a step reports (also one line of metrics.jsonl). */
export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  gradNorm: number;
  /** Mixed precision's loss scale for this step (a non-finite gradNorm: the step was skipped). */
  lossScale?: number;
  tokens: number;
  tokensPerSecond: number;
  seconds: number;
}

export interface EvalInfo {
  step: number;
  valLoss: number;
  valBpb: number;
  valTokens: number;
  full: boolean;
}

export interface TrainRun {
  /** f32 weights on the backend, trained in place. */
  model: LlamaModel;
  data: TrainData;
  settings: TrainSettings;
  outDir: string;
  /** State and optimizer moments to continue from (the model already holds the checkpoint's weights). */
  resume?: { state: TrainerState; m: Map<string, HostTensor>; v: Map<string, HostTensor> };
  writeTokenizer(dir: string): void;
  onStep?(info: StepInfo): void;
  onEval?(info: EvalInfo): void;
  onSave?(dir: string): void;
}

export interface TrainResult {
  steps: number;
  tokens: number;
  seconds: number;
  final: EvalInfo;
}

/** The trained tensors by our flat names, with the weight-decay policy (a tied output is the embedding). */
export function trainableParams(model: LlamaModel, s: Pick<TrainSettings, 'decayEmbeddings' | 'decayNorms'>): Param[] {
  const w = model.weights;
  const out: Param[] = [{ name: 'tokEmbeddings', tensor: w.tokEmbeddings, decay: s.decayEmbeddings }];
  w.layers.forEach((layer, l) => {
    for (const key of Object.keys(layer) as (keyof LayerWeights)[]) {
      const norm = key === 'attnNorm' || key === 'ffnNorm';
      out.push({ name: `layers.${l}.${key}`, tensor: layer[key], decay: norm ? s.decayNorms : true });
    }
  });
  out.push({ name: 'norm', tensor: w.norm, decay: s.decayNorms });
  if (!model.config.tieEmbeddings) out.push({ name: 'output', tensor: w.output, decay: s.decayEmbeddings });
  return out;
}

export function checkSettings(s: TrainSettings): void {
  const positive = ['seqLen', 'batch', 'accumSteps', 'steps', 'evalEvery', 'evalWindows', 'saveEvery'] as const;
  for (const k of positive) if (!Number.isInteger(s[k]) || s[k] < 1) throw new ArgumentError(k, 'an integer >= 1', String(s[k]));
  if (!(s.lr > 0)) throw new ArgumentError('lr', 'a number > 0', String(s.lr));
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0) throw new ArgumentError('warmupSteps', 'an integer >= 0', String(s.warmupSteps));
  if (!(s.minLrRatio >= 0 && s.minLrRatio <= 1)) throw new ArgumentError('minLrRatio', 'a number in [0, 1]', String(s.minLrRatio));
  if (!(s.dropout >= 0 && s.dropout < 1)) throw new ArgumentError('dropout', 'a number in [0, 1)', String(s.dropout));
  if (!precisions.includes(s.precision)) throw new ArgumentError('precision', precisions.map((p) => `"${p}"`).join(' or '), JSON.stringify(s.precision));
}

/** Train `run.model` for run.settings.steps optimizer steps (continuing from run.resume). */
export async function train(run: TrainRun): Promise<TrainResult> {
  const { model, data, settings: s } = run;
  checkSettings(s);
  const { ops } = model;
  if ((ops.precision ?? 'fp32') !== s.precision) {
    throw new ArgumentError('precision', `a backend made with precision "${s.precision}"`, `the ${ops.name} backend's "${ops.precision ?? 'fp32'}"`);
  }
  const params = trainableParams(model, s);
  const optimizer = new AdamW(ops, params, s.adamw);
  let tokens = 0;
  let seconds = 0;
  let lossScale = s.precision === 'mixed' ? INITIAL_LOSS_SCALE : undefined;
  if (run.resume) {
    const { state, m, v } = run.resume;
    for (const p of params) {
      for (const [moments, saved] of [[optimizer.m, m], [optimizer.v, v]] as const) {
        const t = saved.get(p.name);
        if (!t) throw new ArgumentError('resume', `optimizer moments for ${p.name}`, 'none');
        ops.release(moments.get(p.name)!);
        moments.set(p.name, ops.fromHost(t.data, t.shape));
      }
    }
    optimizer.step = state.step;
    data.sampler.state = state.sampler;
    tokens = state.tokensSeen;
    seconds = state.seconds;
    if (lossScale) lossScale = state.lossScale ?? lossScale;
  }
  const schedule = { peak: s.lr, warmupSteps: s.warmupSteps, totalSteps: s.steps, minRatio: s.minLrRatio };
  try {
    for (let step = optimizer.step + 1; step <= s.steps; step++) {
      const start = performance.now();
      const grads: Gradients = new Map();
      let loss = 0;
      for (let micro = 0; micro < s.accumSteps; micro++) {
        const windows = data.sampler.next();
        const batch: Batch = { ...windows, batch: s.batch, seqLen: s.seqLen };
        const counted = scoredCount(batch);
        const dropout = s.dropout > 0 ? { p: s.dropout, seed: mixSeed(mixSeed(s.seed, step), micro) } : undefined;
        const gradScale = (lossScale?.scale ?? 1) / (counted * s.accumSteps);
        loss += (await backward(ops, model, batch, grads, gradScale, s.recompute, dropout)) / (counted * s.accumSteps);
      }
      const lr = learningRate(schedule, step);
      const scaleUsed = lossScale?.scale;
      const gradNorm = await optimizer.update(grads, lr, scaleUsed);
      if (lossScale) lossScale = nextLossScale(lossScale, Number.isFinite(gradNorm));
      const stepSeconds = (performance.now() - start) / 1000;
      const stepTokens = s.batch * s.seqLen * s.accumSteps;
      tokens += stepTokens;
      seconds += stepSeconds;
      run.onStep?.({ step, loss, lr, gradNorm, lossScale: scaleUsed, tokens, tokensPerSecond: stepTokens / stepSeconds, seconds });
      await new Promise(setImmediate); // let timers run (the progress bar redraws on one) and signals arrive
      const last = step === s.steps;
      if (step % s.evalEvery === 0 && !last) run.onEval?.(await validate(model, data, s, step, s.evalWindows));
      if (step % s.saveEvery === 0 || last) {
        const state: TrainerState = { step, sampler: data.sampler.state, tokensSeen: tokens, seconds, settings: s, lossScale };
        const dir = saveCheckpoint(run.outDir, {
          state, config: model.config, params: await hostTensors(ops, params.map((p) => [p.name, p.tensor])),
          m: await hostTensors(ops, [...optimizer.m]), v: await hostTensors(ops, [...optimizer.v]),
        }, run.writeTokenizer);
        run.onSave?.(dir);
      }
    }
    const final = await validate(model, data, s, s.steps, Infinity);
    run.onEval?.(final);
    return { steps: s.steps, tokens, seconds, final };
  } finally {
    optimizer.dispose();
  }
}

/** Forward and backward of one micro-batch on a fresh tape; returns its summed loss (nats). */
async function backward(ops: Ops, model: LlamaModel, batch: Batch, grads: Gradients, gradScale: number, recompute: boolean, dropout?: Dropout): Promise<number> {
  const tape = new Tape(ops, grads);
  try {
    const loss = recordLoss(tape, model, batch, gradScale, recompute, dropout);
    tape.backward();
    const value = (await ops.read(loss))[0]!;
    ops.release(loss);
    return value;
  } finally {
    tape.dispose();
  }
}

/**
 * Mean loss (nats per token) and bits per byte over `limit` validation windows spread evenly over the split
 * (all of them when limit >= their number), in micro-batches of the training batch size.
 */
export async function validate(model: LlamaModel, data: TrainData, s: TrainSettings, step: number, limit: number): Promise<EvalInfo> {
  const all = data.validation;
  const count = Math.min(limit, all.length);
  const picked = Array.from({ length: count }, (_, i) => all[Math.floor((i * all.length) / count)]!);
  let nats = 0;
  let scored = 0;
  for (let i = 0; i < picked.length; ) {
    const len = picked[i]!.inputs.length; // windows of one length go together (the last one is shorter)
    const group: typeof picked = [];
    while (i < picked.length && group.length < s.batch && picked[i]!.inputs.length === len) group.push(picked[i++]!);
    const batch: Batch = {
      inputs: concat(group.map((w) => w.inputs)), targets: concat(group.map((w) => w.targets)), batch: group.length, seqLen: len,
    };
    nats += await evaluateLoss(model, batch);
    scored += scoredCount(batch);
  }
  const valLoss = nats / scored;
  return { step, valLoss, valBpb: valLoss / Math.LN2 / data.bytesPerValToken, valTokens: scored, full: count === all.length };
}

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
}

/** Tensors copied to the host, by name (for checkpoints and the final model). */
export async function hostTensors(ops: Ops, entries: [string, Tensor][]): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of entries) out.set(name, { shape: [...t.shape], data: (await ops.read(t)) as Float32Array });
  return out;
}
