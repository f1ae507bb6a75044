/**
 * `llamats train` end to end, as a user runs it: a short run lowers the validation loss, a killed run resumes to
 * exactly the losses of an uninterrupted one, and the output folder is a model the other commands load.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { assetPath } from '../io/package-paths.js';
import { llamats } from '../testing/run-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'llamats-train-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const text = join(tmp, 'corpus.txt');
writeFileSync(text, readFileSync(assetPath('corpus', 'tinyshakespeare.txt')).subarray(0, 60_000));

const common = ['--text', text, '--config', 'train-test', '--batch', '4', '--seq-len', '32', '--lr', '1e-2', '--warmup', '5',
  '--eval-every', '10', '--eval-windows', '16', '--samples', '0', '--threads', '1', '--dropout', '0.1'];

interface Metric { step: number; loss?: number; lr?: number; gradNorm?: number; valLoss?: number; full?: boolean }
const metrics = (dir: string): Metric[] => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
/** What must be identical between runs: everything but the clocks. */
const deterministic = (m: Metric[]) => m.map(({ step, loss, lr, gradNorm, valLoss }) => ({ step, loss, lr, gradNorm, valLoss }));

describe('llamats train', () => {
  const a = join(tmp, 'a');

  test('50 steps on a tiny model lower the validation loss by more than 1.5 nats from the uniform start', () => {
    const r = llamats('train', ...common, '--out', a, '--steps', '50', '--save-every', '20');
    assert.equal(r.status, 0, r.stderr);
    const m = metrics(a);
    const first = m.find((x) => x.loss !== undefined)!.loss!;
    const final = m.filter((x) => x.valLoss !== undefined).at(-1)!;
    assert.ok(Math.abs(first - Math.log(256)) < 0.1, `first loss ${first} should be near ln 256 (weights start near 0)`);
    assert.ok(final.full, 'the last validation covers the whole split');
    assert.ok(final.valLoss! < first - 1.5, `validation loss ${final.valLoss} vs first training loss ${first}`);
    assert.match(r.stdout, /bits per byte/);
    for (const f of ['model.safetensors', 'config.json', 'tokenizer.json', 'loss.svg', 'summary.json', 'checkpoints/step-000050/trainer.json']) {
      assert.ok(existsSync(join(a, f)), f);
    }
  });

  test('the output folder generates and scores text', () => {
    const g = llamats('generate', '--model', a, '--prompt', 'ROMEO:', '--max-tokens', '20', '--seed', '1', '--threads', '1');
    assert.equal(g.status, 0, g.stderr);
    assert.ok(g.stdout.startsWith('ROMEO:'));
    const p = llamats('perplexity', '--model', a, '--text-file', text, '--context', '32', '--threads', '1');
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stdout, /perplexity: \d/);
  });

  test('a run killed mid-way and resumed gives exactly the losses of an uninterrupted run', async () => {
    const b = join(tmp, 'b');
    const main = fileURLToPath(new URL('./main.js', import.meta.url));
    const child = spawn(process.execPath, [main, 'train', ...common, '--out', b, '--steps', '50', '--save-every', '5'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    while (!existsSync(join(b, 'checkpoints', 'step-000010')) && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    assert.ok(!existsSync(join(b, 'checkpoints', 'step-000050')), 'the run was killed before its end');
    const r = llamats('train', '--resume', b, '--threads', '1', '--samples', '0');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /resuming after step \d+/);
    assert.deepEqual(deterministic(metrics(b)), deterministic(metrics(a)));
  });

  test('--init starts from a loaded model (llama2.c stories260K) and the result keeps its tokenizer', () => {
    const out = join(tmp, 'init');
    const r = llamats('train', '--init', assetPath('stories260K', 'stories260K.bin'), '--tokenizer', assetPath('stories260K', 'tok512.bin'),
      '--text', text, '--out', out, '--steps', '3', '--batch', '2', '--seq-len', '32', '--eval-every', '3', '--eval-windows', '4',
      '--samples', '0', '--threads', '1', '--lr', '1e-4');
    assert.equal(r.status, 0, r.stderr);
    // A random init of this vocabulary starts at ln 512 = 6.24 nats; the TinyStories weights already know English.
    const first = metrics(out)[0]!.loss!;
    assert.ok(first < Math.log(512) - 0.5, `first loss ${first}`);
    const g = llamats('generate', '--model', out, '--prompt', 'Once upon a time', '--max-tokens', '10', '--threads', '1');
    assert.equal(g.status, 0, g.stderr);
    assert.ok(g.stdout.startsWith('Once upon a time'));
  });

  test('bad flags are clear errors', () => {
    const r = llamats('train', '--text', text, '--data', tmp);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--data \/ --text: expected one of them, found both/);
    const s = llamats('train', ...common, '--out', join(tmp, 'c'), '--steps', '0');
    assert.match(s.stderr, /steps.*an integer >= 1.*0/);
    const n = llamats('train', '--resume', join(tmp, 'nothing-here'));
    assert.match(n.stderr, /checkpoints/);
    // A precision unknown, or not the backend's, is refused before the corpus is prepared (no run record, no shards).
    for (const [precision, message] of [['f32', /expected "fp32" or "f16x3" or "mixed", found "f32"/], ['f16x3', /"f16x3" is for webgpu/]] as const) {
      const out = join(tmp, `precision-${precision}`);
      const p = llamats('train', ...common, '--out', out, '--precision', precision);
      assert.equal(p.status, 1);
      assert.match(p.stderr, message);
      assert.ok(!existsSync(join(out, 'run.json')), 'no run record');
    }
  });
});
