// File-level entry points: train from a CSV, classify JSON lines, benchmark, held-out evaluation.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { evaluateMulti, evaluateSingle, type MultiLabelMetrics, type SingleLabelMetrics } from './metrics.ts';
import { loadModel, saveModel, type ModelKind } from './model.ts';
import { describeMembers, fitModel, resolveOptions, stratifiedFolds, type CvResult, type Doc, type TrainOptions } from './train.ts';

export interface CsvSource {
  /** path of the CSV file (first row: column names) */
  data: string;
  /** column holding the comment text */
  text: string;
  /** single-label: the column holding the class */
  label?: string;
  /** multi-label: a text file naming, one a line, the one-hot label columns */
  labelsFile?: string;
  /** single-label: keep only rows whose label passes (e.g. drop malformed codes) */
  keepLabel?: (label: string) => boolean;
}

export interface TrainCsvOptions extends CsvSource, TrainOptions {
  out: string;
  /** extra labelled rows (e.g. staff corrections) added to the training data */
  extraRows?: { text: string; labels: string[] }[];
}

export interface TrainReport {
  kind: ModelKind;
  labels: string[];
  /** rows used for training (CSV rows kept plus extra rows) */
  rows: number;
  skippedEmptyText: number;
  skippedNoLabel: number;
  extraRows: number;
  features: number;
  loss: string;
  c: number;
  cv: CvResult[];
  seconds: number;
  out: string;
  bytes: number;
}

export interface CsvDocs {
  kind: ModelKind;
  docs: Doc[];
  /** multi-label: the label columns in file order */
  labels?: string[];
  skippedEmptyText: number;
  skippedNoLabel: number;
}

const NEGATIVE_CELL = new Set(['', '0', 'false', 'no', 'n']);

export function readCsvDocs(src: CsvSource): CsvDocs {
  if (!src.data) throw new Error('no data file given');
  if (!src.text) throw new Error('no text column given');
  if (src.label && src.labelsFile) throw new Error('give either a label column or a labels file, not both');
  if (!src.label && !src.labelsFile) throw new Error('give a label column or a labels file');
  if (!existsSync(src.data)) throw new Error(`data file not found: ${src.data}`);
  let rows: string[][];
  try {
    rows = parse(readFileSync(src.data), { bom: true, relax_column_count: true, skip_empty_lines: true }) as string[][];
  } catch (e) {
    throw new Error(`cannot parse CSV ${src.data}: ${(e as Error).message.split('\n')[0] ?? ''}`);
  }
  const header = (rows[0] ?? []).map((h) => h.trim());
  const col = (name: string): number => {
    const i = header.indexOf(name.trim());
    if (i < 0) throw new Error(`column "${name}" not found in ${src.data}`);
    return i;
  };
  const textCol = col(src.text);
  let skippedEmptyText = 0;
  let skippedNoLabel = 0;
  const docs: Doc[] = [];
  if (src.label) {
    const labelCol = col(src.label);
    for (const r of rows.slice(1)) {
      const text = (r[textCol] ?? '').trim();
      if (!text) {
        skippedEmptyText++;
        continue;
      }
      const label = (r[labelCol] ?? '').trim();
      if (!label || (src.keepLabel && !src.keepLabel(label))) {
        skippedNoLabel++;
        continue;
      }
      docs.push({ text, labels: [label] });
    }
    return { kind: 'single', docs, skippedEmptyText, skippedNoLabel };
  }
  const file = src.labelsFile as string;
  if (!existsSync(file)) throw new Error(`labels file not found: ${file}`);
  const labels = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (labels.length === 0) throw new Error(`labels file ${file} names no columns`);
  if (new Set(labels).size !== labels.length) throw new Error(`labels file ${file} names a column twice`);
  const cols = labels.map(col);
  for (const r of rows.slice(1)) {
    const text = (r[textCol] ?? '').trim();
    if (!text) {
      skippedEmptyText++;
      continue;
    }
    const ls = labels.filter((_, k) => !NEGATIVE_CELL.has((r[cols[k] as number] ?? '').trim().toLowerCase()));
    if (ls.length === 0) {
      skippedNoLabel++;
      continue;
    }
    docs.push({ text, labels: ls });
  }
  return { kind: 'multi', docs, labels, skippedEmptyText, skippedNoLabel };
}

function checkExtraRows(extra: readonly { text: string; labels: string[] }[], kind: ModelKind, labels?: string[]): Doc[] {
  const known = labels ? new Set(labels) : undefined;
  const out: Doc[] = [];
  extra.forEach((r, i) => {
    if (typeof r?.text !== 'string' || !Array.isArray(r.labels)) throw new Error(`extra row ${i + 1} needs a text and a labels array`);
    const text = r.text.trim();
    const ls = r.labels.map((l) => String(l).trim()).filter(Boolean);
    if (!text || ls.length === 0) return;
    if (kind === 'single' && ls.length > 1) throw new Error(`extra row ${i + 1} has ${ls.length} labels for a single-label model`);
    if (known) for (const l of ls) if (!known.has(l)) throw new Error(`extra row ${i + 1} has unknown label "${l}"`);
    out.push({ text, labels: ls });
  });
  return out;
}

export async function trainFromCsv(opts: TrainCsvOptions): Promise<TrainReport> {
  if (!opts.out) throw new Error('no output model path given');
  const started = performance.now();
  const src = readCsvDocs(opts);
  const extra = checkExtraRows(opts.extraRows ?? [], src.kind, src.labels);
  const docs = [...src.docs, ...extra];
  const trainOpts: TrainOptions = { ...opts };
  if (src.labels) trainOpts.labels = src.labels;
  const fitted = fitModel(docs, src.kind, trainOpts);
  const ro = resolveOptions(src.kind, trainOpts);
  fitted.model.parts.info = {
    trainedAt: new Date().toISOString(),
    rows: docs.length,
    members: describeMembers(ro.members),
    classWeight: ro.classWeight,
    stacked: ro.stack !== false,
    c: fitted.c,
    cv: fitted.cv,
  };
  const bytes = saveModel(fitted.model, opts.out);
  return {
    kind: src.kind,
    labels: [...fitted.model.labels],
    rows: docs.length,
    skippedEmptyText: src.skippedEmptyText,
    skippedNoLabel: src.skippedNoLabel,
    extraRows: extra.length,
    features: fitted.features,
    loss: describeMembers(ro.members),
    c: fitted.c,
    cv: fitted.cv,
    seconds: (performance.now() - started) / 1000,
    out: opts.out,
    bytes,
  };
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

export async function classifyFile(opts: { model: string; in: string; out: string }): Promise<{ count: number }> {
  if (!existsSync(opts.in)) throw new Error(`input file not found: ${opts.in}`);
  const model = loadModel(opts.model);
  const lines = readFileSync(opts.in, 'utf8').split(/\r?\n/);
  const out: string[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1} of ${opts.in} is not valid JSON`);
    }
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Error(`line ${i + 1} of ${opts.in} is not a JSON object`);
    const { id, text } = item as { id?: unknown; text?: unknown };
    if (typeof text !== 'string') throw new Error(`line ${i + 1} of ${opts.in} has no "text" string`);
    if (id === undefined) throw new Error(`line ${i + 1} of ${opts.in} has no "id"`);
    const p = model.predict(text);
    const scores: Record<string, number> = {};
    for (const [l, s] of Object.entries(p.scores)) scores[l] = round(s);
    out.push(JSON.stringify({ id, labels: p.labels, scores }));
  });
  writeFileSync(opts.out, out.length ? out.join('\n') + '\n' : '');
  return { count: out.length };
}

/** Predicts over `texts` repeatedly for about `seconds` on this thread. */
export function benchmarkClassify(modelPath: string, texts: readonly string[], seconds: number): { perSecond: number; loadMs: number; count: number } {
  if (texts.length === 0) throw new Error('no texts to benchmark');
  const t0 = performance.now();
  const model = loadModel(modelPath);
  const loadMs = performance.now() - t0;
  // warm up the JIT
  for (let i = 0; i < Math.min(texts.length, 500); i++) model.predict(texts[i] as string);
  const start = performance.now();
  const limit = start + seconds * 1000;
  let count = 0;
  while (performance.now() < limit) {
    for (let i = 0; i < 200; i++) {
      model.predict(texts[count % texts.length] as string);
      count++;
    }
  }
  return { perSecond: count / ((performance.now() - start) / 1000), loadMs, count };
}

export interface HoldoutResult {
  kind: ModelKind;
  trainRows: number;
  testRows: number;
  c: number;
  cv: CvResult[];
  single?: SingleLabelMetrics;
  multi?: MultiLabelMetrics;
}

/** Trains on a stratified (seeded) split and scores the held-out part. */
export function holdoutEvaluate(src: CsvDocs, opts: TrainOptions & { testFraction?: number; splitSeed?: number } = {}): HoldoutResult {
  const frac = opts.testFraction ?? 0.2;
  const parts = Math.max(2, Math.round(1 / frac));
  const folds = stratifiedFolds(src.docs, parts, opts.splitSeed ?? 2024);
  const train = src.docs.filter((_, i) => folds[i] !== 0);
  const test = src.docs.filter((_, i) => folds[i] === 0);
  const trainOpts: TrainOptions = { ...opts };
  if (src.labels) trainOpts.labels = src.labels;
  const fitted = fitModel(train, src.kind, trainOpts);
  const pred = test.map((d) => fitted.model.predict(d.text).labels);
  const res: HoldoutResult = { kind: src.kind, trainRows: train.length, testRows: test.length, c: fitted.c, cv: fitted.cv };
  if (src.kind === 'single') {
    res.single = evaluateSingle(
      test.map((d) => d.labels[0] as string),
      pred.map((p) => p[0] ?? ''),
    );
  } else {
    res.multi = evaluateMulti(
      test.map((d) => d.labels),
      pred,
    );
  }
  return res;
}

/** Phase-1 criticality (-5..5, negative = critical) onto Carevoice's 0 (not critical) .. 5 scale. */
export function criticalityToScale(label: string): 0 | 1 | 2 | 3 | 4 | 5 {
  const v = Number(String(label).trim());
  if (!Number.isFinite(v) || v >= 0) return 0;
  const s = Math.min(5, Math.round(-v));
  return s as 0 | 1 | 2 | 3 | 4 | 5;
}

/** Comment sentiment 1 (very positive) .. 5 (very negative) onto three bands. */
export function sentimentBand(label: string): 'positive' | 'mixed' | 'negative' {
  const v = String(label).trim();
  if (v === '1' || v === '2') return 'positive';
  if (v === '4' || v === '5') return 'negative';
  if (v === '3') return 'mixed';
  throw new Error(`unknown sentiment label "${label}" (expected 1..5)`);
}
