/**
 * `llamats train`: pre-train (or continue training) a LLaMA on the CPU. With no flags: a small LLaMA on the built-in
 * tiny Shakespeare corpus, bytes as tokens, about five minutes on a 2-core machine.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import cliProgress from 'cli-progress';
import { checkPrecision, type Precision } from '../backend/ops.js';
import { getBackend } from '../backend/registry.js';
import { ArgumentError, FormatError, UnsupportedError } from '../core/errors.js';
import { openTokenShards, validationWindows, WindowSampler } from '../data/loader.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { byteTokenizerJson, tokenizerConfigJson } from '../io/hf-tokenizer.js';
import { hfConfigToLlama } from '../io/hf-model.js';
import { writeHfModel } from '../io/hf-writer.js';
import { openModelWeights, readModelWeights } from '../io/load-model.js';
import { tokenizerFile, tokenizerPathFor } from '../io/load-tokenizer.js';
import { generate } from '../infer/generate.js';
import { assetPath } from '../io/package-paths.js';
import { validateConfig, type LlamaConfig } from '../model/config.js';
import type { LlamaModel } from '../model/llama.js';
import { presetConfig } from '../model/presets.js';
import { ropeInverseFrequencies } from '../model/rope.js';
import { uploadWeights } from '../model/weights.js';
import { decodeTensor } from '../tensor/decode.js';
import type { HostTensor } from '../tensor/tensor.js';
import { ByteTokenizer } from '../tokenizer/byte-tokenizer.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadLatestCheckpoint } from '../train/checkpoint.js';
import { initialWeights } from '../train/init.js';
import { measurePeakFlops } from '../train/peak-flops.js';
import {
  carbonReport, formatCarbonReport, lossPlotSvg, metricSeries, MetricsLog, mfu, parameterCount, readMetrics,
  trainingFlopsPerToken,
} from '../train/report.js';
import { checkSettings, defaultTrainSettings, gpuTrainSettings, hostTensors, train, trainableParams, type TrainSettings } from '../train/trainer.js';
import { backendFlags, numberFlag } from './flags.js';
import { prepareWithProgress, tokenizerFromFlag } from './prepare-command.js';

export interface TrainFlags {
  data?: string; text?: string; tokenizer?: string; config?: string; out?: string; resume?: string; init?: string;
  steps?: string; batch?: string; 'seq-len'?: string; accum?: string; lr?: string; warmup?: string;
  'min-lr-ratio'?: string; 'weight-decay'?: string; beta1?: string; beta2?: string; eps?: string; clip?: string;
  'decay-embeddings'?: string; 'decay-norms'?: string; seed?: string; recompute?: boolean; dropout?: string; 'eval-every'?: string;
  'eval-windows'?: string; 'save-every'?: string; samples?: string; backend?: string; threads?: string; precision?: string;
  power?: string; pue?: string; 'carbon-intensity'?: string;
}

/** What a run folder records about its inputs (OUT/run.json), so that `--resume OUT` needs nothing else. */
interface RunRecord {
  data: string;
  /** 'bytes' or the path of a tokenizer file. */
  tokenizer: string;
  config: LlamaConfig;
  init: string | null;
}

const defaultOut = 'runs/shakespeare';
/** Power assumed for a GPU when --power is not given: a typical discrete GPU under load (an H100 SXM is 700 W). */
const GPU_WATTS = 350;

export async function runTrain(f: TrainFlags): Promise<number> {
  const resumeDir = f.resume;
  const out = resumeDir ?? f.out ?? defaultOut;
  const checkpoint = resumeDir ? loadLatestCheckpoint(resumeDir) : undefined;
  mkdirSync(out, { recursive: true });
  // On a GPU with the built-in model, the defaults are the GPU quickstart's (a bigger model, bigger batches, dropout);
  // a run that names its model (--config, --init) keeps the paper's defaults on every backend.
  const gpuDefaults = backendFlags(f).backend === 'webgpu' && f.config === undefined && f.init === undefined;
  // Flags are checked before the corpus is prepared, which can take minutes.
  const settings: TrainSettings = checkpoint
    ? { ...resumedSettings(checkpoint.state.settings as TrainSettings), ...stepOverride(f) }
    : settingsFromFlags(f, gpuDefaults ? gpuTrainSettings : defaultTrainSettings);
  checkPrecision(backendFlags(f).backend ?? 'cpu', settings.precision);
  const record = checkpoint ? readRunRecord(out) : await newRunRecord(f, out, gpuDefaults ? 'shakespeare-gpu' : 'shakespeare');
  if (!checkpoint) writeFileAtomic(join(out, 'run.json'), JSON.stringify(record, null, 1) + '\n');

  const tokenizer = tokenizerFromFlag(record.tokenizer, record.config.vocabSize);
  const shards = openTokenShards(record.data);
  const ops = await getBackend(backendFlags(f).backend, { ...backendFlags(f), precision: settings.precision });
  try {
    const config = record.config;
    const host = checkpoint?.params ?? (record.init ? f32Weights(record.init) : initialWeights(config, settings.seed));
    const inv = ropeInverseFrequencies(config);
    const model = { config, ops, weights: uploadWeights(ops, config, host, record.init ?? out), invFreq: ops.fromHost(inv, [inv.length]) };
    const sampler = new WindowSampler(shards.train, { seqLen: settings.seqLen, batch: settings.batch, seed: settings.seed });
    const validation = validationWindows(shards.val, settings.seqLen);
    const bytesPerValToken = shards.meta.valBytes / shards.meta.valTokens;

    const metrics = new MetricsLog(out, checkpoint?.state.step ?? 0);
    const flopsPerToken = trainingFlopsPerToken(config, settings.seqLen);
    const onGpu = ops.name === 'webgpu';
    const peak = await measurePeakFlops(ops, onGpu ? 4096 : 512, onGpu ? 10 : 7, 3, onGpu ? 1 : 0);
    const threads = backendFlags(f).threads ?? (ops as { threads?: number }).threads ?? 1;
    process.stderr.write(describeRun(config, settings, shards.meta.trainTokens, peak, ops.device, checkpoint?.state.step));

    const bar = trainBar(settings.steps, checkpoint?.state.step ?? 0);
    const wallStart = performance.now();
    const result = await train({
      model, settings, outDir: out,
      data: { sampler, validation, bytesPerValToken },
      resume: checkpoint && { state: checkpoint.state, m: checkpoint.m, v: checkpoint.v },
      writeTokenizer: (dir) => writeTokenizerFiles(dir, record.tokenizer, config),
      onStep: (s) => {
        const stepMfu = mfu(s.tokensPerSecond, flopsPerToken, peak);
        metrics.log({ ...s, mfu: stepMfu });
        bar.update(s.step, { loss: s.loss.toFixed(4), lr: s.lr.toExponential(2), tps: Math.round(s.tokensPerSecond), mfu: (100 * stepMfu).toFixed(1) });
      },
      onEval: (e) => {
        metrics.log({ ...e });
        logAboveBar(`step ${e.step}: validation loss ${e.valLoss.toFixed(4)}, ${e.valBpb.toFixed(4)} bits per byte over ${e.valTokens} tokens${e.full ? ' (the full validation set)' : ''}\n`);
      },
    });
    bar.stop();
    const wallSeconds = (performance.now() - wallStart) / 1000;

    // The final model, as a Hugging Face folder at the top of OUT (`llamats generate --model OUT` reads it).
    writeFinalModel(out, config, await hostTensors(ops, trainableParams(model, settings).map((p) => [p.name, p.tensor])), record.tokenizer);
    const records = readMetrics(metrics.path);
    writeFileAtomic(join(out, 'loss.svg'), lossPlotSvg([
      { name: 'train loss', points: metricSeries(records, 'loss') },
      { name: 'validation loss', points: metricSeries(records, 'valLoss') },
    ], { title: `llamats train: ${out}`, yLabel: 'loss (nats per token)' }));
    const carbon = carbonReport({
      flops: flopsPerToken * result.tokens, seconds: result.seconds, devices: 1,
      watts: numberFlag('power', f.power) ?? (onGpu ? GPU_WATTS : 10 * threads), pue: numberFlag('pue', f.pue),
      kgCo2PerKwh: numberFlag('carbon-intensity', f['carbon-intensity']), deviceName: ops.device,
    });
    const peakRssMb = peakRss() / 1e6;
    const tensorMb = (ops.reservedBytes ?? NaN) / 1e6;
    const summary = {
      steps: result.steps, tokens: result.tokens, trainSeconds: result.seconds, wallSeconds,
      tokensPerSecond: result.tokens / result.seconds, mfu: mfu(result.tokens / result.seconds, flopsPerToken, peak),
      peakFlops: peak, parameters: parameterCount(config), validation: result.final, peakRssMb, tensorMb, carbon, settings, config,
    };
    writeFileAtomic(join(out, 'summary.json'), JSON.stringify(summary, null, 1) + '\n');
    process.stderr.write(`${formatCarbonReport(carbon)}\npeak resident memory ${peakRssMb.toFixed(0)} MB (tensors at most ${tensorMb.toFixed(0)} MB)\n`);
    process.stderr.write(`wrote ${out}: model.safetensors, config.json, metrics.jsonl, loss.svg, summary.json\n`);
    const samples = numberFlag('samples', f.samples, true) ?? 2;
    for (let i = 0; i < samples; i++) {
      process.stdout.write(`\n--- sample ${i + 1} ---\n${await sample(model, tokenizer, settings.seed + i)}\n`);
    }
    process.stdout.write(`validation: ${result.final.valLoss.toFixed(4)} nats per token, ${result.final.valBpb.toFixed(4)} bits per byte\n`);
    return 0;
  } finally {
    ops.dispose();
  }
}

async function newRunRecord(f: TrainFlags, out: string, defaultConfig: string): Promise<RunRecord> {
  if (f.data !== undefined && f.text !== undefined) throw new ArgumentError('--data / --text', 'one of them', 'both');
  const init = f.init !== undefined ? openModelWeights(f.init) : null;
  init?.dispose();
  const tokenizerSpec = f.tokenizer ?? (f.init !== undefined ? tokenizerPathFor(f.init) : 'bytes');
  const tokenizer = tokenizerFromFlag(tokenizerSpec, init?.config.vocabSize);
  let data = f.data;
  if (data === undefined) {
    data = join(out, 'data');
    if (!existsSync(join(data, 'meta.json'))) await prepareWithProgress([f.text ?? assetPath('corpus', 'tinyshakespeare.txt')], tokenizer, tokenizerSpec, data);
  }
  return {
    data, tokenizer: tokenizerSpec, init: f.init ?? null,
    config: init?.config ?? configFromFlag(f.config ?? defaultConfig, tokenizer.vocabSize, numberFlag('seq-len', f['seq-len'], true)),
  };
}

/** --config: a preset name, or a JSON file (our LlamaConfig, or a Hugging Face config.json). */
function configFromFlag(spec: string, vocabSize: number, seqLen?: number): LlamaConfig {
  let config: LlamaConfig;
  if (existsSync(spec)) {
    const json = JSON.parse(readFileSync(spec, 'utf8')) as Record<string, unknown>;
    config = 'hidden_size' in json ? hfConfigToLlama(json, spec) : validateConfig(json as unknown as LlamaConfig, spec);
  } else {
    config = { ...presetConfig(spec), vocabSize };
    if (seqLen !== undefined) config.maxSeqLen = Math.max(config.maxSeqLen, seqLen);
  }
  if (config.vocabSize !== vocabSize) {
    throw new ArgumentError('--config', `a vocabulary of ${vocabSize} (the tokenizer's)`, `${config.vocabSize} in ${spec}`);
  }
  return config;
}

function readRunRecord(out: string): RunRecord {
  const file = join(out, 'run.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
  } catch (e) {
    throw new FormatError(file, 'JSON', 'the run record llamats train writes', (e as Error).message);
  }
}

/** A model's weights as f32 (training keeps f32 master weights); quantized files cannot be trained. */
function f32Weights(path: string): Map<string, HostTensor> {
  const { tensors } = readModelWeights(path);
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) {
    if (!('bytes' in t)) out.set(name, t);
    else if (t.dtype === 'f16' || t.dtype === 'bf16') out.set(name, { shape: t.shape, data: decodeTensor(t) });
    else throw new UnsupportedError(path, `tensor ${name}`, `training from ${t.dtype} weights (use an F32, F16 or BF16 model)`);
  }
  return out;
}

function settingsFromFlags(f: TrainFlags, d: TrainSettings): TrainSettings {
  const int = (flag: keyof TrainFlags) => numberFlag(flag, f[flag] as string | undefined, true);
  const num = (flag: keyof TrainFlags) => numberFlag(flag, f[flag] as string | undefined);
  const settings: TrainSettings = {
    seqLen: int('seq-len') ?? d.seqLen, batch: int('batch') ?? d.batch, accumSteps: int('accum') ?? d.accumSteps,
    steps: int('steps') ?? d.steps, lr: num('lr') ?? d.lr, warmupSteps: int('warmup') ?? d.warmupSteps,
    minLrRatio: num('min-lr-ratio') ?? d.minLrRatio,
    adamw: {
      beta1: num('beta1') ?? d.adamw.beta1, beta2: num('beta2') ?? d.adamw.beta2, eps: num('eps') ?? d.adamw.eps,
      weightDecay: num('weight-decay') ?? d.adamw.weightDecay, clipNorm: num('clip') ?? d.adamw.clipNorm,
    },
    decayEmbeddings: booleanFlag('decay-embeddings', f['decay-embeddings']) ?? d.decayEmbeddings,
    decayNorms: booleanFlag('decay-norms', f['decay-norms']) ?? d.decayNorms,
    seed: int('seed') ?? d.seed, recompute: f.recompute ?? d.recompute, dropout: num('dropout') ?? d.dropout,
    precision: (f.precision as Precision | undefined) ?? d.precision,
    evalEvery: int('eval-every') ?? d.evalEvery, evalWindows: int('eval-windows') ?? d.evalWindows,
    saveEvery: int('save-every') ?? d.saveEvery,
  };
  checkSettings(settings);
  return settings;
}

/** A checkpoint's settings; runs saved before dropout and mixed precision existed had neither. */
function resumedSettings(saved: TrainSettings): TrainSettings {
  return { ...saved, dropout: saved.dropout ?? 0, precision: saved.precision ?? 'fp32' };
}

/** With --resume every setting comes from the checkpoint, except that --steps may extend the run. */
function stepOverride(f: TrainFlags): Partial<TrainSettings> {
  const steps = numberFlag('steps', f.steps, true);
  return steps === undefined ? {} : { steps };
}

function booleanFlag(flag: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new ArgumentError(`--${flag}`, 'true or false', JSON.stringify(value));
}

/**
 * The tokenizer beside the model, where `llamats generate --model DIR` and transformers look for it:
 * tokenizer.json (+ tokenizer_config.json) for the byte vocabulary; a tokenizer file (or a folder's) is copied
 * under its usual name, a tokenizer.json with the tokenizer_config.json beside it.
 */
function writeTokenizerFiles(dir: string, tokenizer: string, config: LlamaConfig): void {
  if (tokenizer === 'bytes') {
    writeFileAtomic(join(dir, 'tokenizer.json'), JSON.stringify(byteTokenizerJson()) + '\n');
    writeFileAtomic(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson(new ByteTokenizer(), config.maxSeqLen), null, 1) + '\n');
    return;
  }
  const file = tokenizerFile(tokenizer);
  const name = file.endsWith('.gguf') ? 'tokenizer.gguf' : file.endsWith('.json') ? 'tokenizer.json' : file.endsWith('.model') ? 'tokenizer.model' : 'tokenizer.bin';
  writeFileAtomic(join(dir, name), readFileSync(file));
  const tokenizerConfig = join(dirname(file), 'tokenizer_config.json');
  if (name === 'tokenizer.json' && existsSync(tokenizerConfig)) writeFileAtomic(join(dir, 'tokenizer_config.json'), readFileSync(tokenizerConfig));
}

function writeFinalModel(out: string, config: LlamaConfig, params: Map<string, HostTensor>, tokenizer: string): void {
  writeHfModel(out, config, params);
  writeTokenizerFiles(out, tokenizer, config);
}

/** Peak resident memory of this process (VmHWM on Linux; the current RSS elsewhere), bytes. */
function peakRss(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.memoryUsage().rss;
}

/** A sampled continuation of a newline (temperature 0.8), as long as the context allows. */
async function sample(model: LlamaModel, tokenizer: Tokenizer, seed: number): Promise<string> {
  const prompt = tokenizer.encode('\n');
  let text = '';
  for await (const t of generate(model, tokenizer, prompt, { temperature: 0.8, seed, maxTokens: model.config.maxSeqLen - prompt.length })) text += t.text;
  return text;
}

function describeRun(c: LlamaConfig, s: TrainSettings, trainTokens: number, peak: number, device: string, from?: number): string {
  const params = (parameterCount(c) / 1e6).toFixed(2);
  return [
    `model: ${params}M parameters (dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads / ${c.nKvHeads} kv, ffn ${c.hiddenDim}, vocab ${c.vocabSize})`,
    `data: ${trainTokens} training tokens; batch ${s.batch} x ${s.seqLen} x ${s.accumSteps} accumulation = ${s.batch * s.seqLen * s.accumSteps} tokens per step`,
    `schedule: ${s.steps} steps, peak lr ${s.lr}, warmup ${s.warmupSteps}, cosine to ${s.minLrRatio * 100}%; AdamW b1 ${s.adamw.beta1} b2 ${s.adamw.beta2} eps ${s.adamw.eps} wd ${s.adamw.weightDecay}, clip ${s.adamw.clipNorm}${s.dropout > 0 ? `; dropout ${s.dropout}` : ''}${s.recompute ? '; recomputing activations' : ''}`,
    `compute: ${device}${{ fp32: '', f16x3: ', f32 products on tensor cores (f16x3)', mixed: ', mixed precision (f16 products, loss scaling)' }[s.precision]}, measured mat-mul peak ${(peak / 1e9).toFixed(1)} GFLOP/s${from ? `; resuming after step ${from}` : ''}`,
    '',
  ].join('\n');
}

/** The training progress bar: step, loss, learning rate, tokens/s, MFU, ETA. */
function trainBar(total: number, start: number): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar({
    format: 'train [{bar}] {value}/{total} steps | loss {loss} | lr {lr} | {tps} tok/s | MFU {mfu}% | ETA {eta_formatted}',
    barCompleteChar: '=', barIncompleteChar: '-', hideCursor: false, noTTYOutput: true, notTTYSchedule: 10000,
    stream: process.stderr, etaBuffer: 50,
  });
  bar.start(total, start, { loss: '-', lr: '-', tps: '-', mfu: '-' });
  return bar;
}

/** A line on stderr that the progress bar redraws below. */
function logAboveBar(line: string): void {
  process.stderr.write(process.stderr.isTTY ? `\r\x1b[K${line}` : line);
}
