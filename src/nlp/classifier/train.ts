// Training: TF-IDF features, one-vs-rest linear models, C chosen by cross-validation when
// several are given, multi-label thresholds tuned on out-of-fold scores.

import { trainBinary, mulberry32, shuffleInPlace, type Loss } from './linear.ts';
import { evaluateMulti, accuracy } from './metrics.ts';
import { Model, type ModelKind, type LinearParts } from './model.ts';
import { DEFAULT_FEATURES, type FeatureConfig } from './tokenize.ts';
import { Vectorizer, subsetRows, type SparseRows } from './vectorizer.ts';

export interface Doc {
  text: string;
  labels: string[];
}

/** 'balanced': n / (K * n_k) as in scikit-learn; 'sqrt': its square root (a milder boost of rare classes) */
export type ClassWeight = 'none' | 'balanced' | 'sqrt';

export interface TrainOptions {
  /** 'lr' (logistic regression, default) or 'svm' (L2-loss linear SVM) */
  loss?: Loss;
  /** inverse regularisation; several values: the best by cross-validation is used */
  c?: number | number[];
  classWeight?: ClassWeight;
  features?: Partial<FeatureConfig>;
  maxIter?: number;
  eps?: number;
  seed?: number;
  /** folds for choosing C and tuning multi-label thresholds (default 3) */
  cvFolds?: number;
  /** label order; defaults to the labels seen, sorted */
  labels?: string[];
}

export interface CvResult {
  c: number;
  /** accuracy (single) or micro-F1 (multi) of out-of-fold predictions */
  score: number;
}

export interface FittedModel {
  model: Model;
  cv: CvResult[];
  c: number;
  features: number;
}

const DEFAULTS = { loss: 'lr' as Loss, c: 10, classWeight: 'none' as ClassWeight, maxIter: 100, eps: 0.01, seed: 42, cvFolds: 3 };

function labelSort(labels: string[]): string[] {
  const numeric = labels.every((l) => /^-?\d+(\.\d+)?$/.test(l));
  return numeric ? labels.sort((a, b) => Number(a) - Number(b)) : labels.sort();
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Stratified fold numbers: each class (single) or rarest label (multi) spread evenly. */
export function stratifiedFolds(docs: readonly Doc[], folds: number, seed: number): Int32Array {
  const freq = new Map<string, number>();
  for (const d of docs) for (const l of d.labels) freq.set(l, (freq.get(l) ?? 0) + 1);
  const groups = new Map<string, number[]>();
  docs.forEach((d, i) => {
    let key = '';
    let best = Infinity;
    for (const l of d.labels) {
      const f = freq.get(l) ?? 0;
      if (f < best) {
        best = f;
        key = l;
      }
    }
    const g = groups.get(key);
    if (g) g.push(i);
    else groups.set(key, [i]);
  });
  const rand = mulberry32(seed);
  const out = new Int32Array(docs.length);
  let next = 0;
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key) as number[];
    shuffleInPlace(g, rand);
    for (const i of g) {
      out[i] = next % folds;
      next++;
    }
  }
  return out;
}

interface Problem {
  kind: ModelKind;
  labels: string[];
  /** y[k][i] = +1 / -1 */
  y: Int8Array[];
  loss: Loss;
  classWeight: ClassWeight;
  maxIter: number;
  eps: number;
  seed: number;
}

function fitWeights(x: SparseRows, p: Problem, c: number, rows?: number[]): { weights: Float32Array; biases: Float64Array } {
  const K = p.labels.length;
  const sub = rows ? subsetRows(x, rows) : x;
  const n = sub.nRows;
  const weights = new Float32Array(x.nCols * K);
  const biases = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const full = p.y[k] as Int8Array;
    const y = rows ? Int8Array.from(rows, (r) => full[r] as number) : full;
    let pos = 0;
    for (let i = 0; i < n; i++) if ((y[i] as number) > 0) pos++;
    let cPos = c;
    if (p.classWeight !== 'none' && pos > 0) {
      // single-label: sklearn's n / (K * n_k) on the positives (liblinear's weighted C);
      // multi-label: positives weighted towards balancing the negatives, capped.
      const w = p.kind === 'single' ? n / (K * pos) : Math.min(30, (n - pos) / pos);
      cPos = c * (p.classWeight === 'sqrt' ? Math.sqrt(w) : w);
    }
    const m = trainBinary(sub, y, { loss: p.loss, cPos, cNeg: c, maxIter: p.maxIter, eps: p.eps, seed: p.seed + k, biasFeature: 1 });
    for (let f = 0; f < x.nCols; f++) weights[f * K + k] = m.w[f] as number;
    biases[k] = m.bias;
  }
  return { weights, biases };
}

function decisionRows(x: SparseRows, rows: readonly number[], weights: Float32Array, biases: Float64Array, out: Float64Array[]): void {
  const K = biases.length;
  for (const r of rows) {
    const z = Float64Array.from(biases);
    for (let p = x.rowPtr[r] as number, e = x.rowPtr[r + 1] as number; p < e; p++) {
      const base = (x.idx[p] as number) * K;
      const v = x.val[p] as number;
      for (let k = 0; k < K; k++) z[k] = (z[k] as number) + (weights[base + k] as number) * v;
    }
    out[r] = z;
  }
}

function outOfFold(x: SparseRows, p: Problem, c: number, folds: Int32Array, nFolds: number): Float64Array[] {
  const out: Float64Array[] = new Array<Float64Array>(x.nRows);
  for (let f = 0; f < nFolds; f++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < x.nRows; i++) (folds[i] === f ? test : train).push(i);
    const { weights, biases } = fitWeights(x, p, c, train);
    decisionRows(x, test, weights, biases, out);
  }
  return out;
}

const MIN_PRECISION = 0.3;
const FALLBACK_RATIOS = [0.5, 0.6, 0.7, 0.8, 0.9, 1];

/** Best-F1 probability threshold for one label from out-of-fold probabilities. */
export function tuneThreshold(probs: readonly number[], truth: readonly boolean[]): number {
  const order = probs.map((_, i) => i).sort((a, b) => (probs[b] as number) - (probs[a] as number));
  const nPos = truth.filter(Boolean).length;
  if (nPos === 0) return 1;
  let tp = 0;
  let bestF = -1;
  let bestThr = 1;
  for (let j = 0; j < order.length; j++) {
    const i = order[j] as number;
    if (truth[i]) tp++;
    const next = order[j + 1];
    const pj = probs[i] as number;
    const pn = next === undefined ? 0 : (probs[next] as number);
    if (pn === pj) continue; // only cut between distinct scores
    const f = (2 * tp) / (nPos + j + 1);
    // a cut with poor precision means the label is not learnable here: better never predicted
    if (tp / (j + 1) < MIN_PRECISION) continue;
    if (f > bestF) {
      bestF = f;
      bestThr = (pj + pn) / 2;
    }
  }
  return bestF < 0 ? 1 : Math.min(0.9, Math.max(0.02, bestThr));
}

function chooseMulti(p: Float64Array, thr: Float64Array, fallbackRatio: number): number[] {
  const out: number[] = [];
  let best = -1;
  let bestRatio = -Infinity;
  for (let k = 0; k < p.length; k++) {
    const r = (p[k] as number) / (thr[k] as number);
    if (r >= 1) out.push(k);
    if (r > bestRatio) {
      bestRatio = r;
      best = k;
    }
  }
  if (out.length === 0 && best >= 0 && bestRatio >= fallbackRatio) out.push(best);
  return out;
}

interface MultiTuning {
  thresholds: Float64Array;
  fallbackRatio: number;
  microF1: number;
}

function tuneMulti(oof: Float64Array[], p: Problem, scoreScale: number): MultiTuning {
  const K = p.labels.length;
  const n = oof.length;
  const probs = oof.map((z) => z.map((v) => sigmoid(scoreScale * v)));
  const thresholds = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const yk = p.y[k] as Int8Array;
    thresholds[k] = tuneThreshold(
      probs.map((q) => q[k] as number),
      Array.from(yk, (v) => v > 0),
    );
  }
  const truth = Array.from({ length: n }, (_, i) => p.labels.filter((_, k) => ((p.y[k] as Int8Array)[i] as number) > 0));
  let best: MultiTuning = { thresholds, fallbackRatio: 1, microF1: -1 };
  // Always keep at least the best label when its score is within reach of its threshold
  // (ratio >= 0.5); how far within reach is tuned on the out-of-fold predictions.
  for (const fr of FALLBACK_RATIOS) {
    const pred = probs.map((q) => chooseMulti(q, thresholds, fr).map((k) => p.labels[k] as string));
    const m = evaluateMulti(truth, pred).microF1;
    if (m > best.microF1 + 1e-9) best = { thresholds, fallbackRatio: fr, microF1: m };
  }
  return best;
}

function cvScoreSingle(oof: Float64Array[], p: Problem, classOf: Int32Array): number {
  const pred = oof.map((z) => {
    let b = 0;
    for (let k = 1; k < z.length; k++) if ((z[k] as number) > (z[b] as number)) b = k;
    return p.labels[b] as string;
  });
  return accuracy(
    Array.from(classOf, (k) => p.labels[k] as string),
    pred,
  );
}

/** Trains a model in memory. Single-label docs use their first label. */
export function fitModel(docs: readonly Doc[], kind: ModelKind, opts: TrainOptions = {}): FittedModel {
  if (docs.length === 0) throw new Error('no training rows (every row had empty text or no label)');
  const loss = opts.loss ?? DEFAULTS.loss;
  const cs = Array.isArray(opts.c) ? opts.c : [opts.c ?? DEFAULTS.c];
  if (cs.length === 0 || cs.some((c) => !(c > 0))) throw new Error('C must be a positive number');
  const seed = opts.seed ?? DEFAULTS.seed;
  const nFolds = Math.max(2, opts.cvFolds ?? DEFAULTS.cvFolds);
  const features: FeatureConfig = { ...DEFAULTS_FEATURES(), ...opts.features };
  const labels = opts.labels ? [...opts.labels] : labelSort([...new Set(docs.flatMap((d) => (kind === 'single' ? d.labels.slice(0, 1) : d.labels)))]);
  const labelIndex = new Map(labels.map((l, i) => [l, i]));
  const n = docs.length;
  const y: Int8Array[] = labels.map(() => new Int8Array(n).fill(-1));
  const classOf = new Int32Array(n);
  docs.forEach((d, i) => {
    const ls = kind === 'single' ? d.labels.slice(0, 1) : d.labels;
    for (const l of ls) {
      const k = labelIndex.get(l);
      if (k === undefined) throw new Error(`label "${l}" is not in the label list`);
      (y[k] as Int8Array)[i] = 1;
      classOf[i] = k;
    }
  });
  if (kind === 'single' && labels.length < 2) throw new Error('single-label training needs at least two different labels');

  const texts = docs.map((d) => d.text);
  const vectorizer = Vectorizer.fit(texts, features);
  const x = vectorizer.transform(texts);
  const problem: Problem = {
    kind,
    labels,
    y,
    loss,
    classWeight: opts.classWeight ?? DEFAULTS.classWeight,
    maxIter: opts.maxIter ?? DEFAULTS.maxIter,
    eps: opts.eps ?? DEFAULTS.eps,
    seed,
  };
  const scoreScale = loss === 'lr' ? 1 : 2;
  const needCv = cs.length > 1 || kind === 'multi';
  const folds = needCv ? stratifiedFolds(docs, nFolds, seed) : new Int32Array(n);
  const cv: CvResult[] = [];
  let bestC = cs[0] as number;
  let bestTuning: MultiTuning | undefined;
  if (needCv) {
    let bestScore = -Infinity;
    for (const c of cs) {
      const oof = outOfFold(x, problem, c, folds, nFolds);
      let score: number;
      let tuning: MultiTuning | undefined;
      if (kind === 'single') score = cvScoreSingle(oof, problem, classOf);
      else {
        tuning = tuneMulti(oof, problem, scoreScale);
        score = tuning.microF1;
      }
      cv.push({ c, score });
      if (score > bestScore) {
        bestScore = score;
        bestC = c;
        bestTuning = tuning;
      }
    }
  }
  const { weights, biases } = fitWeights(x, problem, bestC);
  const parts: LinearParts = { kind, labels, loss, vectorizer, weights, biases, scoreScale };
  if (kind === 'multi' && bestTuning) {
    parts.thresholds = bestTuning.thresholds;
    parts.fallbackRatio = bestTuning.fallbackRatio;
  }
  return { model: new Model(parts), cv, c: bestC, features: vectorizer.size };
}

function DEFAULTS_FEATURES(): FeatureConfig {
  return { ...DEFAULT_FEATURES, wordNgrams: [...DEFAULT_FEATURES.wordNgrams], charNgrams: [...DEFAULT_FEATURES.charNgrams] };
}
