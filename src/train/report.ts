/**
 * The trainer's reports: a loss plot (SVG), compute and carbon accounting as in the LLaMA paper, FLOP counts and
 * MFU, and the metrics log (`metrics.jsonl`) that survives a resume.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArgumentError, FormatError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { headDim, type LlamaConfig } from '../model/config.js';

// ---------------------------------------------------------------------------------------------------------------
// Loss plot

export interface PlotPoint { step: number; value: number }
export interface PlotSeries { name: string; points: readonly PlotPoint[] }
export interface PlotOptions { title?: string; yLabel?: string; width?: number; height?: number }

const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];
/** Series with at most this many points (validation loss, a short run) also get a circle per point. */
const markerLimit = 60;

/**
 * Round tick values covering [min, max]: a step of 1, 2 or 5 times a power of ten giving about `target`
 * intervals, from the multiple of the step at or below `min` to the one at or above `max`.
 */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max < min) throw new ArgumentError('tick range', 'finite min <= max', `${min}..${max}`);
  if (max === min) [min, max] = [min - (Math.abs(min) * 0.1 || 1), max + (Math.abs(max) * 0.1 || 1)];
  const raw = (max - min) / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw * (1 - 1e-9))!;
  const first = Math.floor(min / step + 1e-9), last = Math.ceil(max / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

function tickLabel(v: number, step: number): string {
  return v.toFixed(Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
}

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/**
 * A self-contained SVG line chart of loss (or any metric) against step: round ticks and grid lines on both axes, a
 * polyline per series that has finite points (NaN and infinite values are skipped), small circles on sparse series,
 * a legend and a title.
 */
export function lossPlotSvg(series: readonly PlotSeries[], options: PlotOptions = {}): string {
  const { title = 'Loss', yLabel = 'loss', width = 720, height = 420 } = options;
  const m = { left: 64, right: 20, top: 40, bottom: 48 };
  const plotW = width - m.left - m.right, plotH = height - m.top - m.bottom;
  const clean = series.map((s) => ({
    name: s.name,
    points: s.points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.value)).sort((a, b) => a.step - b.step),
  }));
  const all = clean.flatMap((s) => s.points);
  const extent = (vs: number[]): [number, number] => (vs.length ? [Math.min(...vs), Math.max(...vs)] : [0, 1]);
  const xTicks = niceTicks(...extent(all.map((p) => p.step)));
  const yTicks = niceTicks(...extent(all.map((p) => p.value)));
  const [x0, x1] = [xTicks[0]!, xTicks[xTicks.length - 1]!], [y0, y1] = [yTicks[0]!, yTicks[yTicks.length - 1]!];
  const px = (step: number) => (m.left + ((step - x0) / (x1 - x0)) * plotW).toFixed(1);
  const py = (value: number) => (m.top + plotH - ((value - y0) / (y1 - y0)) * plotH).toFixed(1);

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16">${escapeXml(title)}</text>`,
  ];
  const xStep = xTicks.length > 1 ? xTicks[1]! - xTicks[0]! : 1, yStep = yTicks.length > 1 ? yTicks[1]! - yTicks[0]! : 1;
  for (const t of xTicks) {
    out.push(`<line x1="${px(t)}" y1="${m.top}" x2="${px(t)}" y2="${m.top + plotH}" stroke="#e0e0e0"/>`,
      `<text x="${px(t)}" y="${m.top + plotH + 16}" text-anchor="middle">${tickLabel(t, xStep)}</text>`);
  }
  for (const t of yTicks) {
    out.push(`<line x1="${m.left}" y1="${py(t)}" x2="${m.left + plotW}" y2="${py(t)}" stroke="#e0e0e0"/>`,
      `<text x="${m.left - 6}" y="${py(t)}" text-anchor="end" dominant-baseline="middle">${tickLabel(t, yStep)}</text>`);
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
    `<text x="${m.left + plotW / 2}" y="${height - 10}" text-anchor="middle">step</text>`,
    `<text x="16" y="${m.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + plotH / 2})">${escapeXml(yLabel)}</text>`,
  );
  if (all.length === 0) {
    out.push(`<text x="${m.left + plotW / 2}" y="${m.top + plotH / 2}" text-anchor="middle" fill="#888">no data</text>`);
  }
  clean.forEach((s, i) => {
    const color = palette[i % palette.length]!;
    if (s.points.length === 0) return;
    const coords = s.points.map((p) => `${px(p.step)},${py(p.value)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${coords}"/>`);
    if (s.points.length <= markerLimit) {
      for (const p of s.points) out.push(`<circle cx="${px(p.step)}" cy="${py(p.value)}" r="3" fill="${color}"/>`);
    }
  });
  const legendW = 24 + 7 * Math.max(0, ...clean.map((s) => s.name.length)) + 16;
  const lx = m.left + plotW - legendW - 8, ly = m.top + 8;
  if (clean.length > 0) {
    out.push(`<rect x="${lx}" y="${ly}" width="${legendW}" height="${clean.length * 18 + 8}" fill="white" fill-opacity="0.85" stroke="#ccc"/>`);
  }
  clean.forEach((s, i) => {
    const y = ly + 14 + i * 18, color = palette[i % palette.length]!;
    out.push(`<line x1="${lx + 6}" y1="${y}" x2="${lx + 24}" y2="${y}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${lx + 30}" y="${y}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>', '');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Compute and carbon, as in the LLaMA paper (Touvron et al. 2023, Table 15)

export interface CarbonInputs {
  /** Total floating-point operations of the run. */
  flops: number;
  /** Wall-clock seconds the devices were busy. */
  seconds: number;
  devices: number;
  /** Power draw of one device, in watts (LLaMA: 400 W per A100-80GB). */
  watts: number;
  /** Power usage effectiveness of the data centre (LLaMA: 1.1). */
  pue?: number;
  /** Carbon intensity of the electricity (LLaMA: the US national average, 0.385 kg CO2eq/kWh). */
  kgCo2PerKwh?: number;
  deviceName: string;
}

export interface CarbonReport extends Required<CarbonInputs> {
  deviceHours: number;
  /** deviceHours x watts / 1000 x pue. */
  energyKwh: number;
  /** Tonnes of CO2 equivalent: energyKwh x kgCo2PerKwh / 1000. */
  tCo2eq: number;
  kgCo2eq: number;
}

export function carbonReport(inputs: CarbonInputs): CarbonReport {
  const { pue = 1.1, kgCo2PerKwh = 0.385 } = inputs;
  const r = { ...inputs, pue, kgCo2PerKwh };
  for (const key of ['flops', 'seconds', 'devices', 'watts', 'pue', 'kgCo2PerKwh'] as const) {
    if (!Number.isFinite(r[key]) || r[key] < 0) throw new ArgumentError(`carbon report ${key}`, 'a finite number >= 0', String(r[key]));
  }
  const deviceHours = (r.devices * r.seconds) / 3600;
  const energyKwh = ((deviceHours * r.watts) / 1000) * pue;
  const kgCo2eq = energyKwh * kgCo2PerKwh;
  return { ...r, deviceHours, energyKwh, tCo2eq: kgCo2eq / 1000, kgCo2eq };
}

/** The report as aligned lines for the terminal. */
export function formatCarbonReport(r: CarbonReport): string {
  const rows: [string, string][] = [
    ['compute', `${r.flops.toExponential(3)} FLOPs`],
    ['device time', `${r.deviceHours.toPrecision(4)} device-hours (${r.devices} x ${r.deviceName} at ${r.watts} W)`],
    ['energy', `${r.energyKwh.toPrecision(4)} kWh (PUE ${r.pue})`],
    ['emissions', `${r.tCo2eq.toExponential(3)} tCO2eq = ${r.kgCo2eq.toPrecision(4)} kg CO2eq (${r.kgCo2PerKwh} kg/kWh)`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// FLOPs and parameters

/** Weights of the matrix multiplies: every linear layer plus the output projection (tied or not). */
function matmulParameters(c: LlamaConfig): number {
  const kvDim = c.nKvHeads * headDim(c);
  const perLayer = 2 * c.dim * c.dim + 2 * kvDim * c.dim + 3 * c.hiddenDim * c.dim; // wq wo, wk wv, w1 w2 w3
  return c.nLayers * perLayer + c.vocabSize * c.dim;
}

/**
 * Training FLOPs per token at sequence length `seqLen`, the PaLM (appendix B) convention: 6N + 12 L T D.
 * N counts the linear layers' weights and the output projection (the embedding lookup is free, norms and
 * elementwise ops are ignored); 2 FLOPs per multiply-add, x3 for forward + backward. The attention term: per token
 * per layer, the scores q.K and the weighted sum of V each cost 2 T D forward (4 T D), x3 = 12 T D, with T the full
 * sequence length (no halving for the causal mask). Kaplan et al. count 6N + 6 L T D (half the attention work).
 */
export function trainingFlopsPerToken(config: LlamaConfig, seqLen: number): number {
  return 6 * matmulParameters(config) + 12 * config.nLayers * seqLen * config.dim;
}

/** Every parameter of the model: embeddings (counted once when tied to the output), linear layers and norms. */
export function parameterCount(config: LlamaConfig): number {
  const norms = (2 * config.nLayers + 1) * config.dim;
  const embeddings = config.tieEmbeddings ? 0 : config.vocabSize * config.dim; // the output is the table when tied
  return matmulParameters(config) + embeddings + norms;
}

/** Model FLOPs utilisation: achieved training FLOP/s as a fraction of the hardware's peak FLOP/s. */
export function mfu(tokensPerSecond: number, flopsPerToken: number, peakFlops: number): number {
  return (tokensPerSecond * flopsPerToken) / peakFlops;
}

// ---------------------------------------------------------------------------------------------------------------
// Metrics log

/** One line of `metrics.jsonl`: a step and whatever was measured at it (loss, valLoss, lr, tokensPerSecond ...). */
export type MetricsRecord = { step: number } & Record<string, unknown>;

function parseLines(path: string): { record: MetricsRecord; line: string }[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const out: { record: MetricsRecord; line: string }[] = [];
  lines.forEach((line, i) => {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      record = undefined;
    }
    const ok = typeof record === 'object' && record !== null && typeof (record as { step?: unknown }).step === 'number';
    if (ok) out.push({ record: record as MetricsRecord, line });
    else if (i < lines.length - 1 || text.endsWith('\n')) {
      throw new FormatError(path, `line ${i + 1}`, 'a JSON object with a numeric "step"', JSON.stringify(line.slice(0, 80)));
    } // else: a torn last line (a crash mid-append), dropped
  });
  return out;
}

/** The records of a metrics log, in file order; a torn (unterminated, unparseable) last line is skipped. */
export function readMetrics(path: string): MetricsRecord[] {
  return parseLines(path).map((l) => l.record);
}

/**
 * Rewrite a metrics log (atomically) without the records after `step` and without a torn last line, so that a run
 * resumed from the checkpoint at `step` appends after a consistent log. A missing file is left missing. Returns the
 * number of records kept.
 */
export function truncateAfterStep(path: string, step: number): number {
  if (!existsSync(path)) return 0;
  const kept = parseLines(path).filter((l) => l.record.step <= step);
  writeFileAtomic(path, kept.map((l) => `${l.line}\n`).join(''));
  return kept.length;
}

/** `metrics.jsonl` in an output directory, one JSON object per line (non-finite numbers are written as null). */
export class MetricsLog {
  readonly path: string;

  /** Opens `dir/metrics.jsonl`, first dropping records after `resumeStep` (0, a fresh run: all of them). */
  constructor(dir: string, resumeStep = 0) {
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, 'metrics.jsonl');
    truncateAfterStep(this.path, resumeStep);
  }

  log(record: MetricsRecord): void {
    if (!Number.isFinite(record.step)) throw new ArgumentError('metrics step', 'a finite number', String(record.step));
    appendFileSync(this.path, `${JSON.stringify(record)}\n`);
  }
}

/** The points of one numeric field across records (records without a finite value for it are skipped). */
export function metricSeries(records: readonly MetricsRecord[], key: string): PlotPoint[] {
  return records.flatMap((r) => (typeof r[key] === 'number' && Number.isFinite(r[key]) ? [{ step: r.step, value: r[key] }] : []));
}
