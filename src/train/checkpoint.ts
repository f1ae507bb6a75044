/**
 * Training checkpoints. Each save is a folder `OUT/checkpoints/step-NNNNNN/` built under a temporary name and
 * renamed into place, so it exists whole or not at all:
 *   config.json + model.safetensors   the weights as a Hugging Face LLaMA (transformers and `llamats generate` load it)
 *   optimizer.safetensors             AdamW's moments m.<name>, v.<name> (our flat names)
 *   trainer.json                      step, data position, elapsed time, the run's settings
 *   tokenizer files                   whatever `writeTokenizer` puts there
 * `--resume OUT` continues from the newest complete one; the oldest are pruned beyond `keep`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../core/errors.js';
import { hfNameFromMeta } from '../io/tensor-names.js';
import { openHfFolder } from '../io/hf-model.js';
import { writeHfModel } from '../io/hf-writer.js';
import { readSafetensorsHeader, readSafetensorsTensor, writeSafetensors } from '../io/safetensors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import type { LlamaConfig } from '../model/config.js';
import type { HostTensor } from '../tensor/tensor.js';
import type { LossScale } from './loss-scale.js';

export interface TrainerState {
  /** Optimizer updates done. */
  step: number;
  /** The training data sampler's position (its own JSON form). */
  sampler: unknown;
  tokensSeen: number;
  /** Training seconds so far (wall clock, summed over resumed runs). */
  seconds: number;
  /** The settings of the run, so a resume continues the same run. */
  settings: unknown;
  /** Mixed precision's loss scale (loss-scale.ts). */
  lossScale?: LossScale;
}

export interface Checkpoint {
  state: TrainerState;
  config: LlamaConfig;
  params: Map<string, HostTensor>;
  m: Map<string, HostTensor>;
  v: Map<string, HostTensor>;
}

const stepDir = (step: number) => `step-${String(step).padStart(6, '0')}`;

/** Write a checkpoint atomically and prune all but the newest `keep`; returns its folder. */
export function saveCheckpoint(outDir: string, c: Checkpoint, writeTokenizer: (dir: string) => void, keep = 2): string {
  const root = join(outDir, 'checkpoints');
  const final = join(root, stepDir(c.state.step));
  const tmp = join(root, `.${stepDir(c.state.step)}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeHfModel(tmp, c.config, c.params, { metadata: { step: String(c.state.step) } });
  const moments: Record<string, HostTensor> = {};
  for (const [name, t] of c.m) moments[`m.${name}`] = t;
  for (const [name, t] of c.v) moments[`v.${name}`] = t;
  writeSafetensors(join(tmp, 'optimizer.safetensors'), moments, { step: String(c.state.step) });
  writeTokenizer(tmp);
  writeFileAtomic(join(tmp, 'trainer.json'), JSON.stringify({ format: 'llamats-trainer', version: 1, ...c.state }, null, 1) + '\n');
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  for (const old of checkpointSteps(outDir).slice(0, -keep)) rmSync(join(root, stepDir(old)), { recursive: true, force: true });
  return final;
}

/** Steps of the complete checkpoints under OUT/checkpoints, oldest first. */
export function checkpointSteps(outDir: string): number[] {
  const root = join(outDir, 'checkpoints');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((n) => (/^step-(\d+)$/.exec(n) ? [Number(n.slice(5))] : [])).sort((a, b) => a - b);
}

/** The newest complete checkpoint of a run folder. */
export function loadLatestCheckpoint(outDir: string): Checkpoint & { dir: string } {
  const steps = checkpointSteps(outDir);
  if (steps.length === 0) throw new FormatError(outDir, 'checkpoints', 'a run folder with checkpoints/step-N', 'none');
  const dir = join(outDir, 'checkpoints', stepDir(steps[steps.length - 1]!));
  return { dir, ...loadCheckpoint(dir) };
}

export function loadCheckpoint(dir: string): Checkpoint {
  const stateFile = join(dir, 'trainer.json');
  let state: TrainerState & { format?: string };
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch (e) {
    throw new FormatError(stateFile, 'JSON', 'a trainer state written by llamats train', (e as Error).message);
  }
  if (state.format !== 'llamats-trainer' || !Number.isInteger(state.step)) {
    throw new FormatError(stateFile, 'format', '"llamats-trainer" with an integer step', JSON.stringify(state.format));
  }
  const model = openHfFolder(dir);
  const params = new Map<string, HostTensor>();
  for (const [name, read] of model.tensors) {
    const t = read();
    if ('bytes' in t) throw new FormatError(dir, `tensor ${hfNameFromMeta(name)}`, 'F32 (training checkpoints are f32)', t.dtype);
    params.set(name, t);
  }
  const moments = readSafetensorsHeader(join(dir, 'optimizer.safetensors'));
  const m = new Map<string, HostTensor>();
  const v = new Map<string, HostTensor>();
  for (const [key, info] of moments) {
    const [kind, ...rest] = key.split('.');
    (kind === 'm' ? m : v).set(rest.join('.'), readSafetensorsTensor(info));
  }
  return { state, config: model.config, params, m, v };
}
