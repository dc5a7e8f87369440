// Binary linear models trained by dual coordinate descent (the method of liblinear:
// Hsieh et al. 2008 for the L2-loss SVM, Yu, Huang & Lin 2011 for logistic regression).
// Both minimise 0.5*|w|^2 + sum_i C_i * loss_i with the bias as an extra constant feature.

import type { SparseRows } from './vectorizer.ts';

export type Loss = 'lr' | 'svm';

export interface BinaryOptions {
  loss: Loss;
  /** per-sample cost, or cost of positives / negatives */
  cPos: number;
  cNeg: number;
  maxIter: number;
  eps: number;
  seed: number;
  /** value of the constant bias feature (liblinear's -B) */
  biasFeature: number;
  /** optional per-sample weights multiplying C */
  sampleWeight?: Float64Array;
}

export interface BinaryModel {
  w: Float64Array;
  bias: number;
  iterations: number;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffleInPlace(a: Int32Array | number[], rand: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i] as number;
    a[i] = a[j] as number;
    a[j] = t;
  }
}

export function trainBinary(x: SparseRows, y: Int8Array, opts: BinaryOptions): BinaryModel {
  const n = x.nRows;
  const { rowPtr, idx, val } = x;
  const w = new Float64Array(x.nCols);
  let wb = 0;
  const B = opts.biasFeature;
  const C = new Float64Array(n);
  const QD = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    C[i] = ((y[i] as number) > 0 ? opts.cPos : opts.cNeg) * (opts.sampleWeight ? (opts.sampleWeight[i] as number) : 1);
    let s = B * B;
    for (let p = rowPtr[i] as number, e = rowPtr[i + 1] as number; p < e; p++) s += (val[p] as number) ** 2;
    QD[i] = s;
  }
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rand = mulberry32(opts.seed);
  const alpha = new Float64Array(n);
  let iter = 0;

  const dot = (i: number): number => {
    let s = wb * B;
    for (let p = rowPtr[i] as number, e = rowPtr[i + 1] as number; p < e; p++) s += (w[idx[p] as number] as number) * (val[p] as number);
    return s;
  };
  const axpy = (i: number, d: number): void => {
    for (let p = rowPtr[i] as number, e = rowPtr[i + 1] as number; p < e; p++) {
      const j = idx[p] as number;
      w[j] = (w[j] as number) + d * (val[p] as number);
    }
    wb += d * B;
  };

  if (opts.loss === 'svm') {
    const diag = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      diag[i] = 0.5 / (C[i] as number);
      QD[i] = (QD[i] as number) + (diag[i] as number);
    }
    for (iter = 0; iter < opts.maxIter; iter++) {
      shuffleInPlace(order, rand);
      let pgMax = -Infinity;
      let pgMin = Infinity;
      for (let k = 0; k < n; k++) {
        const i = order[k] as number;
        const yi = y[i] as number;
        const a = alpha[i] as number;
        const G = yi * dot(i) - 1 + a * (diag[i] as number);
        const PG = a === 0 ? Math.min(G, 0) : G;
        if (PG > pgMax) pgMax = PG;
        if (PG < pgMin) pgMin = PG;
        if (Math.abs(PG) > 1e-12) {
          const na = Math.max(a - G / (QD[i] as number), 0);
          alpha[i] = na;
          const d = (na - a) * yi;
          if (d !== 0) axpy(i, d);
        }
      }
      if (pgMax - pgMin <= opts.eps) {
        iter++;
        break;
      }
    }
    return { w, bias: wb * B, iterations: iter };
  }

  // logistic regression, dual: 0 < alpha_i < C_i
  for (let i = 0; i < n; i++) {
    const a = Math.min(0.001 * (C[i] as number), 1e-8);
    alpha[i] = a;
    axpy(i, a * (y[i] as number));
  }
  for (iter = 0; iter < opts.maxIter; iter++) {
    shuffleInPlace(order, rand);
    let gMax = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k] as number;
      const yi = y[i] as number;
      const ci = C[i] as number;
      const qd = QD[i] as number;
      const a0 = alpha[i] as number;
      const G = yi * dot(i);
      // g(z) = qd (z - a0) + G + log(z / (ci - z)) is increasing on (0, ci); find its root.
      const g0 = G + Math.log(a0 / (ci - a0));
      if (Math.abs(g0) > gMax) gMax = Math.abs(g0);
      if (Math.abs(g0) < 1e-10) continue;
      let lo = 0;
      let hi = ci;
      let z = a0;
      for (let t = 0; t < 60; t++) {
        const gz = qd * (z - a0) + G + Math.log(z / (ci - z));
        if (Math.abs(gz) < 1e-10) break;
        if (gz > 0) hi = z;
        else lo = z;
        const gp = qd + ci / (z * (ci - z));
        let zn = z - gz / gp;
        if (zn <= lo) zn = lo > 0 ? 0.5 * (lo + z) : 0.1 * z;
        else if (zn >= hi) zn = hi < ci ? 0.5 * (hi + z) : ci - 0.1 * (ci - z);
        if (Math.abs(zn - z) <= 1e-15 * Math.max(1, z)) {
          z = zn;
          break;
        }
        z = zn;
      }
      if (z <= 0) z = Number.MIN_VALUE;
      if (z >= ci) z = ci * (1 - 1e-15);
      alpha[i] = z;
      const d = (z - a0) * yi;
      if (d !== 0) axpy(i, d);
    }
    if (gMax <= opts.eps) {
      iter++;
      break;
    }
  }
  return { w, bias: wb * B, iterations: iter };
}
