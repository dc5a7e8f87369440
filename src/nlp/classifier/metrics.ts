// Evaluation metrics. Single-label metrics take parallel arrays of true and predicted labels;
// multi-label metrics take parallel arrays of label sets.

export interface SingleLabelMetrics {
  n: number;
  accuracy: number;
  /** pxtextmining's class-balance accuracy: mean over classes of TP_c / max(predicted_c, actual_c) */
  classBalanceAccuracy: number;
  macroF1: number;
}

export interface MultiLabelMetrics {
  n: number;
  microF1: number;
  /** mean F1 over the labels that occur in the true sets */
  macroF1: number;
  /** share of items whose predicted set equals the true set exactly */
  subsetAccuracy: number;
  /** share of items with at least one correct label predicted */
  anyCorrect: number;
}

function checkSameLength(a: readonly unknown[], b: readonly unknown[]): void {
  if (a.length !== b.length) throw new Error(`true and predicted labels differ in length (${a.length} vs ${b.length})`);
}

export function accuracy(yTrue: readonly string[], yPred: readonly string[]): number {
  checkSameLength(yTrue, yPred);
  if (yTrue.length === 0) return 0;
  let ok = 0;
  for (let i = 0; i < yTrue.length; i++) if (yTrue[i] === yPred[i]) ok++;
  return ok / yTrue.length;
}

interface Counts {
  tp: number;
  actual: number;
  predicted: number;
}

function perClass(yTrue: readonly string[], yPred: readonly string[]): Map<string, Counts> {
  checkSameLength(yTrue, yPred);
  const m = new Map<string, Counts>();
  const get = (l: string): Counts => {
    let c = m.get(l);
    if (!c) {
      c = { tp: 0, actual: 0, predicted: 0 };
      m.set(l, c);
    }
    return c;
  };
  for (let i = 0; i < yTrue.length; i++) {
    const t = yTrue[i] as string;
    const p = yPred[i] as string;
    get(t).actual++;
    get(p).predicted++;
    if (t === p) get(t).tp++;
  }
  return m;
}

/** Classes are the union of true and predicted labels, as with a confusion matrix. */
export function classBalanceAccuracy(yTrue: readonly string[], yPred: readonly string[]): number {
  const m = perClass(yTrue, yPred);
  if (m.size === 0) return 0;
  let s = 0;
  for (const c of m.values()) s += c.tp / Math.max(c.actual, c.predicted);
  return s / m.size;
}

function f1(tp: number, actual: number, predicted: number): number {
  const d = actual + predicted;
  return d === 0 ? 0 : (2 * tp) / d;
}

/** Macro-F1 over the union of true and predicted labels. */
export function macroF1(yTrue: readonly string[], yPred: readonly string[]): number {
  const m = perClass(yTrue, yPred);
  if (m.size === 0) return 0;
  let s = 0;
  for (const c of m.values()) s += f1(c.tp, c.actual, c.predicted);
  return s / m.size;
}

export function evaluateSingle(yTrue: readonly string[], yPred: readonly string[]): SingleLabelMetrics {
  return {
    n: yTrue.length,
    accuracy: accuracy(yTrue, yPred),
    classBalanceAccuracy: classBalanceAccuracy(yTrue, yPred),
    macroF1: macroF1(yTrue, yPred),
  };
}

export function microF1Multi(yTrue: readonly (readonly string[])[], yPred: readonly (readonly string[])[]): number {
  checkSameLength(yTrue, yPred);
  let tp = 0;
  let actual = 0;
  let predicted = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = new Set(yTrue[i]);
    const p = new Set(yPred[i]);
    actual += t.size;
    predicted += p.size;
    for (const l of p) if (t.has(l)) tp++;
  }
  return f1(tp, actual, predicted);
}

/** Macro-F1 over the labels present in the true sets (labels never seen are left out). */
export function macroF1Multi(yTrue: readonly (readonly string[])[], yPred: readonly (readonly string[])[]): number {
  checkSameLength(yTrue, yPred);
  const m = new Map<string, Counts>();
  const get = (l: string): Counts => {
    let c = m.get(l);
    if (!c) {
      c = { tp: 0, actual: 0, predicted: 0 };
      m.set(l, c);
    }
    return c;
  };
  for (let i = 0; i < yTrue.length; i++) {
    const t = new Set(yTrue[i]);
    const p = new Set(yPred[i]);
    for (const l of t) get(l).actual++;
    for (const l of p) {
      get(l).predicted++;
      if (t.has(l)) get(l).tp++;
    }
  }
  let s = 0;
  let k = 0;
  for (const c of m.values()) {
    if (c.actual === 0) continue;
    s += f1(c.tp, c.actual, c.predicted);
    k++;
  }
  return k === 0 ? 0 : s / k;
}

export function evaluateMulti(yTrue: readonly (readonly string[])[], yPred: readonly (readonly string[])[]): MultiLabelMetrics {
  checkSameLength(yTrue, yPred);
  let exact = 0;
  let any = 0;
  for (let i = 0; i < yTrue.length; i++) {
    const t = new Set(yTrue[i]);
    const p = new Set(yPred[i]);
    if (t.size === p.size && [...t].every((l) => p.has(l))) exact++;
    if ([...p].some((l) => t.has(l))) any++;
  }
  const n = yTrue.length;
  return {
    n,
    microF1: microF1Multi(yTrue, yPred),
    macroF1: macroF1Multi(yTrue, yPred),
    subsetAccuracy: n ? exact / n : 0,
    anyCorrect: n ? any / n : 0,
  };
}
