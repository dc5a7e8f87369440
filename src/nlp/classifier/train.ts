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

/**
 * One linear model of an ensemble. The members' decision values (each on its probability scale:
 * x1 for LR, x2 for the SVM) are averaged, so an ensemble folds into one weight matrix and costs
 * nothing extra at prediction time.
 */
export interface Member {
  loss: Loss;
  /** multiplies the model's C (so a C chosen by cross-validation moves every member together) */
  cScale?: number;
  /** naive-Bayes log-count-ratio feature scaling (NB-SVM, Wang & Manning 2012) with this smoothing */
  nbAlpha?: number;
  /** feature blocks the member sees (default both) */
  block?: 'word' | 'char' | 'both';
}

export interface TrainOptions {
  /** a single model: 'lr' (logistic regression) or 'svm' (L2-loss linear SVM); default: the DEFAULT_MEMBERS ensemble */
  loss?: Loss;
  /** inverse regularisation; several values: the best by cross-validation is used (default: KIND_DEFAULTS) */
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
  /** an ensemble of linear models (overrides `loss`) */
  members?: Member[];
  /**
   * single-label: second-stage multinomial LR on the members' out-of-fold scores, folded into the
   * weights (number: its L2 strength towards the plain average; default on for several members)
   */
  stack?: boolean | number;
  /** record the stacked out-of-fold accuracy in `cv` (as c = -1; in-sample for the stacker) */
  stackCheck?: boolean;
  /**
   * multi-label: when no label passes its threshold, output the top-scoring labels (up to this
   * many) whose score is at least `minScore`
   */
  minLabels?: number;
  /** floor for `minLabels` (a probability) */
  minScore?: number;
  /** class weight of the stacker's rows (default 'none': it then maximises accuracy) */
  stackClassWeight?: ClassWeight;
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

const DEFAULTS = { maxIter: 100, eps: 0.01, seed: 42, cvFolds: 3 };

/**
 * The default ensemble (chosen on 3 seeded held-out splits of the phase-1 and v6 data, see
 * models/NOTICE.md): an L2-loss SVM on the word block only, one on the char block only,
 * logistic regression on both (C x 15) and an NB-SVM on both (C x 0.25).
 */
export const DEFAULT_MEMBERS: readonly Member[] = [
  { loss: 'svm', block: 'word' },
  { loss: 'svm', block: 'char' },
  { loss: 'lr', cScale: 15 },
  { loss: 'svm', nbAlpha: 1, cScale: 0.25 },
];

/** e.g. "svm[word] + svm[char] + lr(Cx15) + nb-svm(Cx0.25)" */
export function describeMembers(members: readonly Member[]): string {
  return members
    .map((m) => `${m.nbAlpha ? 'nb-' : ''}${m.loss}${m.block && m.block !== 'both' ? `[${m.block}]` : ''}${m.cScale && m.cScale !== 1 ? `(Cx${m.cScale})` : ''}`)
    .join(' + ');
}

/** Defaults per kind of model; any option given explicitly wins. */
export const KIND_DEFAULTS = {
  single: { c: [0.1, 0.2, 0.4], classWeight: 'sqrt' as ClassWeight, wordNgrams: [1, 3] as [number, number], stack: 0.001, stackClassWeight: 'none' as ClassWeight },
  multi: { c: [0.15, 0.3, 0.6], classWeight: 'none' as ClassWeight, wordNgrams: [1, 2] as [number, number], minLabels: 0, minScore: 0.1 },
};

export interface ResolvedOptions {
  members: Member[];
  c: number[];
  classWeight: ClassWeight;
  features: FeatureConfig;
  stack: number | false;
  stackClassWeight: ClassWeight;
  minLabels: number;
  minScore: number;
  maxIter: number;
  eps: number;
  seed: number;
  cvFolds: number;
}

/**
 * The options actually used: with nothing given, the default ensemble with C picked from a
 * small grid by cross-validation; `loss` alone gives a single model of that loss.
 */
export function resolveOptions(kind: ModelKind, opts: TrainOptions = {}): ResolvedOptions {
  const d = KIND_DEFAULTS[kind];
  const members: Member[] = opts.members && opts.members.length > 0 ? opts.members.map((m) => ({ ...m })) : opts.loss ? [{ loss: opts.loss }] : DEFAULT_MEMBERS.map((m) => ({ ...m }));
  const c = Array.isArray(opts.c) ? [...opts.c] : opts.c !== undefined ? [opts.c] : [...d.c];
  const features: FeatureConfig = { ...DEFAULTS_FEATURES(), wordNgrams: [...d.wordNgrams] };
  for (const [k, v] of Object.entries(opts.features ?? {})) if (v !== undefined) (features as unknown as Record<string, unknown>)[k] = v;
  let stack: number | false = false;
  if (kind === 'single') {
    if (typeof opts.stack === 'number') stack = opts.stack;
    else if (opts.stack === true) stack = KIND_DEFAULTS.single.stack;
    else if (opts.stack === undefined && members.length > 1) stack = KIND_DEFAULTS.single.stack;
  }
  return {
    members,
    c,
    classWeight: opts.classWeight ?? d.classWeight,
    features,
    stack,
    stackClassWeight: opts.stackClassWeight ?? KIND_DEFAULTS.single.stackClassWeight,
    minLabels: kind === 'multi' ? (opts.minLabels ?? KIND_DEFAULTS.multi.minLabels) : 0,
    minScore: opts.minScore ?? KIND_DEFAULTS.multi.minScore,
    maxIter: opts.maxIter ?? DEFAULTS.maxIter,
    eps: opts.eps ?? DEFAULTS.eps,
    seed: opts.seed ?? DEFAULTS.seed,
    cvFolds: Math.max(2, opts.cvFolds ?? DEFAULTS.cvFolds),
  };
}

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
  members: Member[];
  /** features [0, nWord) are word features */
  nWord: number;
  classWeight: ClassWeight;
  maxIter: number;
  eps: number;
  seed: number;
}

/** Copy of x keeping only one feature block (the other block's values set to 0). */
function maskBlock(x: SparseRows, nWord: number, block: 'word' | 'char'): SparseRows {
  const val = new Float32Array(x.val.length);
  for (let p = 0; p < val.length; p++) {
    const isWord = (x.idx[p] as number) < nWord;
    val[p] = isWord === (block === 'word') ? (x.val[p] as number) : 0;
  }
  return { ...x, val };
}

/** NB log-count ratios r[f] = log((p_f / |p|) / (q_f / |q|)) from binarised features. */
function nbRatio(x: SparseRows, y: Int8Array, alpha: number): Float64Array {
  const p = new Float64Array(x.nCols).fill(alpha);
  const q = new Float64Array(x.nCols).fill(alpha);
  for (let i = 0; i < x.nRows; i++) {
    const t = (y[i] as number) > 0 ? p : q;
    for (let j = x.rowPtr[i] as number, e = x.rowPtr[i + 1] as number; j < e; j++) if ((x.val[j] as number) !== 0) t[x.idx[j] as number]! += 1;
  }
  let sp = 0;
  let sq = 0;
  for (let f = 0; f < x.nCols; f++) {
    sp += p[f] as number;
    sq += q[f] as number;
  }
  const r = new Float64Array(x.nCols);
  for (let f = 0; f < x.nCols; f++) r[f] = Math.log((p[f] as number) / sp) - Math.log((q[f] as number) / sq);
  return r;
}

function scaleCols(x: SparseRows, r: Float64Array): SparseRows {
  const val = new Float32Array(x.val.length);
  for (let p = 0; p < val.length; p++) val[p] = (x.val[p] as number) * (r[x.idx[p] as number] as number);
  return { ...x, val };
}

function memberScale(m: Member): number {
  return m.loss === 'lr' ? 1 : 2;
}

interface Linear {
  weights: Float32Array;
  biases: Float64Array;
}

/** One linear model per member, its decision values on the probability scale. */
function fitMembers(x: SparseRows, p: Problem, c: number, rows?: number[]): Linear[] {
  const K = p.labels.length;
  const sub = rows ? subsetRows(x, rows) : x;
  const n = sub.nRows;
  return p.members.map((mem, mi) => {
    const weights = new Float32Array(x.nCols * K);
    const biases = new Float64Array(K);
    const base = mem.block && mem.block !== 'both' ? maskBlock(sub, p.nWord, mem.block) : sub;
    const cm = c * (mem.cScale ?? 1);
    const s = memberScale(mem);
    for (let k = 0; k < K; k++) {
      const full = p.y[k] as Int8Array;
      const y = rows ? Int8Array.from(rows, (r) => full[r] as number) : full;
      let pos = 0;
      for (let i = 0; i < n; i++) if ((y[i] as number) > 0) pos++;
      let cPos = cm;
      if (p.classWeight !== 'none' && pos > 0) {
        // single-label: sklearn's n / (K * n_k) on the positives (liblinear's weighted C);
        // multi-label: positives weighted towards balancing the negatives, capped.
        const w = p.kind === 'single' ? n / (K * pos) : Math.min(30, (n - pos) / pos);
        cPos = cm * (p.classWeight === 'sqrt' ? Math.sqrt(w) : w);
      }
      const r = mem.nbAlpha ? nbRatio(base, y, mem.nbAlpha) : undefined;
      const xk = r ? scaleCols(base, r) : base;
      const m = trainBinary(xk, y, { loss: mem.loss, cPos, cNeg: cm, maxIter: p.maxIter, eps: p.eps, seed: p.seed + k + 1000 * mi, biasFeature: 1 });
      for (let f = 0; f < x.nCols; f++) weights[f * K + k] = s * (m.w[f] as number) * (r ? (r[f] as number) : 1);
      biases[k] = s * m.bias;
    }
    return { weights, biases };
  });
}

/**
 * Folds the members into one linear model: plain average, or through a stacking matrix
 * `mix` (z'_j = mix.bias[j] + sum_{m,k} mix.a[j][m*K+k] * z_m[k]).
 */
function combine(ms: Linear[], K: number, mix?: Stacker): Linear {
  const F = (ms[0] as Linear).weights.length / K;
  const M = ms.length;
  const weights = new Float32Array(F * K);
  const biases = new Float64Array(K);
  if (!mix) {
    for (const m of ms) {
      for (let i = 0; i < weights.length; i++) weights[i] = (weights[i] as number) + (m.weights[i] as number) / M;
      for (let k = 0; k < K; k++) biases[k] = (biases[k] as number) + (m.biases[k] as number) / M;
    }
    return { weights, biases };
  }
  const acc = new Float64Array(K);
  for (let f = 0; f < F; f++) {
    acc.fill(0);
    for (let m = 0; m < M; m++) {
      const w = (ms[m] as Linear).weights;
      for (let k = 0; k < K; k++) {
        const v = w[f * K + k] as number;
        if (v === 0) continue;
        const row = m * K + k;
        for (let j = 0; j < K; j++) acc[j] = (acc[j] as number) + (mix.a[j * M * K + row] as number) * v;
      }
    }
    for (let j = 0; j < K; j++) weights[f * K + j] = acc[j] as number;
  }
  for (let j = 0; j < K; j++) {
    let b = mix.bias[j] as number;
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) b += (mix.a[j * M * K + m * K + k] as number) * ((ms[m] as Linear).biases[k] as number);
    biases[j] = b;
  }
  return { weights, biases };
}

interface Stacker {
  /** K x (M*K), row-major */
  a: Float64Array;
  bias: Float64Array;
}

/**
 * Second stage for single-label models: multinomial logistic regression on the members'
 * out-of-fold decision values, L2-regularised towards the plain average (so it can only move
 * away from it as far as the data supports). Rows weighted by the class weight.
 */
function fitStacker(oof: Float64Array[][], classOf: Int32Array, K: number, classWeight: ClassWeight, lambda: number): Stacker {
  const M = oof.length;
  const D = M * K;
  const n = classOf.length;
  const a0 = new Float64Array(K * D);
  for (let j = 0; j < K; j++) for (let m = 0; m < M; m++) a0[j * D + m * K + j] = 1 / M;
  const a = Float64Array.from(a0);
  const bias = new Float64Array(K);
  const counts = new Float64Array(K);
  for (let i = 0; i < n; i++) counts[classOf[i] as number]! += 1;
  const sw = new Float64Array(n);
  let swSum = 0;
  for (let i = 0; i < n; i++) {
    const c = counts[classOf[i] as number] as number;
    const w = classWeight === 'none' ? 1 : classWeight === 'balanced' ? n / (K * c) : Math.sqrt(n / (K * c));
    sw[i] = w;
    swSum += w;
  }
  const u = new Float64Array(D);
  const z = new Float64Array(K);
  const ga = new Float64Array(K * D);
  const gb = new Float64Array(K);
  // Adam on the mean weighted log-loss + lambda/2 |a - a0|^2
  const ma = new Float64Array(K * D);
  const va = new Float64Array(K * D);
  const mb = new Float64Array(K);
  const vb = new Float64Array(K);
  const lr = 0.05;
  for (let t = 1; t <= 300; t++) {
    ga.fill(0);
    gb.fill(0);
    for (let i = 0; i < n; i++) {
      for (let m = 0; m < M; m++) u.set((oof[m] as Float64Array[])[i] as Float64Array, m * K);
      let zmax = -Infinity;
      for (let j = 0; j < K; j++) {
        let s = bias[j] as number;
        for (let d = 0; d < D; d++) s += (a[j * D + d] as number) * (u[d] as number);
        z[j] = s;
        if (s > zmax) zmax = s;
      }
      let sum = 0;
      for (let j = 0; j < K; j++) {
        z[j] = Math.exp((z[j] as number) - zmax);
        sum += z[j] as number;
      }
      const yi = classOf[i] as number;
      const wi = (sw[i] as number) / swSum;
      for (let j = 0; j < K; j++) {
        const g = wi * ((z[j] as number) / sum - (j === yi ? 1 : 0));
        gb[j] = (gb[j] as number) + g;
        for (let d = 0; d < D; d++) ga[j * D + d] = (ga[j * D + d] as number) + g * (u[d] as number);
      }
    }
    const b1 = 1 - 0.9 ** t;
    const b2 = 1 - 0.999 ** t;
    for (let q = 0; q < K * D; q++) {
      const g = (ga[q] as number) + lambda * ((a[q] as number) - (a0[q] as number));
      ma[q] = 0.9 * (ma[q] as number) + 0.1 * g;
      va[q] = 0.999 * (va[q] as number) + 0.001 * g * g;
      a[q] = (a[q] as number) - (lr * ((ma[q] as number) / b1)) / (Math.sqrt((va[q] as number) / b2) + 1e-8);
    }
    for (let j = 0; j < K; j++) {
      const g = gb[j] as number;
      mb[j] = 0.9 * (mb[j] as number) + 0.1 * g;
      vb[j] = 0.999 * (vb[j] as number) + 0.001 * g * g;
      bias[j] = (bias[j] as number) - (lr * ((mb[j] as number) / b1)) / (Math.sqrt((vb[j] as number) / b2) + 1e-8);
    }
  }
  return { a, bias };
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

/** Out-of-fold decision values of each member: out[m][row][k]. */
function outOfFold(x: SparseRows, p: Problem, c: number, folds: Int32Array, nFolds: number): Float64Array[][] {
  const out: Float64Array[][] = p.members.map(() => new Array<Float64Array>(x.nRows));
  for (let f = 0; f < nFolds; f++) {
    const train: number[] = [];
    const test: number[] = [];
    for (let i = 0; i < x.nRows; i++) (folds[i] === f ? test : train).push(i);
    fitMembers(x, p, c, train).forEach((m, mi) => decisionRows(x, test, m.weights, m.biases, out[mi] as Float64Array[]));
  }
  return out;
}

function averageOof(oof: Float64Array[][]): Float64Array[] {
  const M = oof.length;
  return (oof[0] as Float64Array[]).map((_, i) => {
    const z = Float64Array.from((oof[0] as Float64Array[])[i] as Float64Array);
    for (let m = 1; m < M; m++) {
      const zm = (oof[m] as Float64Array[])[i] as Float64Array;
      for (let k = 0; k < z.length; k++) z[k] = (z[k] as number) + (zm[k] as number);
    }
    for (let k = 0; k < z.length; k++) z[k] = (z[k] as number) / M;
    return z;
  });
}

function stackedOof(oof: Float64Array[][], mix: Stacker, K: number): Float64Array[] {
  const M = oof.length;
  const D = M * K;
  return (oof[0] as Float64Array[]).map((_, i) => {
    const z = Float64Array.from(mix.bias);
    for (let m = 0; m < M; m++) {
      const zm = (oof[m] as Float64Array[])[i] as Float64Array;
      for (let j = 0; j < K; j++) for (let k = 0; k < K; k++) z[j] = (z[j] as number) + (mix.a[j * D + m * K + k] as number) * (zm[k] as number);
    }
    return z;
  });
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
  const ro = resolveOptions(kind, opts);
  const { members, seed, features } = ro;
  const cs = ro.c;
  if (cs.length === 0 || cs.some((c) => !(c > 0))) throw new Error('C must be a positive number');
  const nFolds = ro.cvFolds;
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
    members,
    nWord: vectorizer.nWord,
    classWeight: ro.classWeight,
    maxIter: ro.maxIter,
    eps: ro.eps,
    seed,
  };
  // member decision values are already on the probability scale (see fitWeights)
  const scoreScale = 1;
  const stack = kind === 'single' && ro.stack !== false;
  const needCv = cs.length > 1 || kind === 'multi' || stack;
  const folds = needCv ? stratifiedFolds(docs, nFolds, seed) : new Int32Array(n);
  const cv: CvResult[] = [];
  let bestC = cs[0] as number;
  let bestTuning: MultiTuning | undefined;
  let bestOof: Float64Array[][] | undefined;
  if (needCv) {
    let bestScore = -Infinity;
    for (const c of cs) {
      const oof = outOfFold(x, problem, c, folds, nFolds);
      const avg = averageOof(oof);
      let score: number;
      let tuning: MultiTuning | undefined;
      if (kind === 'single') score = cvScoreSingle(avg, problem, classOf);
      else {
        tuning = tuneMulti(avg, problem, scoreScale);
        score = tuning.microF1;
      }
      cv.push({ c, score });
      if (score > bestScore) {
        bestScore = score;
        bestC = c;
        bestTuning = tuning;
        bestOof = oof;
      }
    }
  }
  let mix: Stacker | undefined;
  if (stack && bestOof) {
    mix = fitStacker(bestOof, classOf, labels.length, ro.stackClassWeight, ro.stack as number);
    if (opts.stackCheck) cv.push({ c: -1, score: cvScoreSingle(stackedOof(bestOof, mix, labels.length), problem, classOf) });
  }
  const { weights, biases } = combine(fitMembers(x, problem, bestC), labels.length, mix);
  const parts: LinearParts = { kind, labels, loss: (members[0] as Member).loss, vectorizer, weights, biases, scoreScale };
  if (kind === 'multi' && bestTuning) {
    parts.thresholds = bestTuning.thresholds;
    parts.fallbackRatio = bestTuning.fallbackRatio;
  }
  if (kind === 'multi' && ro.minLabels > 0) {
    parts.minLabels = ro.minLabels;
    parts.minScore = ro.minScore;
  }
  return { model: new Model(parts), cv, c: bestC, features: vectorizer.size };
}

function DEFAULTS_FEATURES(): FeatureConfig {
  return { ...DEFAULT_FEATURES, wordNgrams: [...DEFAULT_FEATURES.wordNgrams], charNgrams: [...DEFAULT_FEATURES.charNgrams] };
}
