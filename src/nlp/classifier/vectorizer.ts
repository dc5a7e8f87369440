// TF-IDF over hashed features: buckets seen in at least `minDf` training documents are kept and
// numbered compactly; the word block and the char block are L2-normalised separately and then
// weighted (like scikit-learn's FeatureUnion of two TfidfVectorizers).

import { BucketTable, HashedFeaturizer, type FeatureConfig } from './tokenize.ts';

export interface SparseRows {
  rowPtr: Int32Array;
  idx: Int32Array;
  val: Float32Array;
  nRows: number;
  nCols: number;
}

/**
 * Featurizers shared by every vectorizer with the same feature settings, each remembering the last
 * text it extracted: the themes, sentiment and criticality models read the same comment one after
 * the other, and hashing its n-grams once instead of three times is most of the cost of classifying.
 */
const shared = new Map<string, { featurizer: HashedFeaturizer; lastText: string | null; lastN: number }>();
function sharedFeaturizer(config: FeatureConfig) {
  const key = JSON.stringify(config);
  let entry = shared.get(key);
  if (!entry) {
    entry = { featurizer: new HashedFeaturizer(config), lastText: null, lastN: 0 };
    shared.set(key, entry);
  }
  return entry;
}

export class Vectorizer {
  readonly config: FeatureConfig;
  /** global bucket id of each kept feature, ascending (word block first). */
  readonly featureIds: Int32Array;
  readonly idf: Float32Array;
  /** features [0, nWord) are word features, the rest char features. */
  readonly nWord: number;
  /**
   * bucket id -> feature number, made on first use: a model read with others through a ModelSet
   * (every story model in the app) never needs its own.
   */
  private bucketTable: BucketTable | undefined;
  private get buckets(): BucketTable {
    return (this.bucketTable ??= new BucketTable(this.featureIds));
  }
  private readonly featurizer: ReturnType<typeof sharedFeaturizer>;
  /** per-feature counts of the text being vectorised (made with the bucket table, on first use) */
  private counts: Float64Array | undefined;
  /** output of the last vectorize() call */
  vIdx: Int32Array = new Int32Array(1024);
  vVal: Float64Array = new Float64Array(1024);

  constructor(config: FeatureConfig, featureIds: Int32Array, idf: Float32Array) {
    if (featureIds.length !== idf.length) throw new Error('model features and idf differ in length');
    this.config = config;
    this.featureIds = featureIds;
    this.idf = idf;
    const charOffset = 1 << config.hashBits;
    let nWord = 0;
    for (let i = 0; i < featureIds.length; i++) {
      const g = featureIds[i] as number;
      if (g < 0 || g >= charOffset * 2) throw new Error('model feature id out of range');
      if (g < charOffset) nWord = i + 1;
    }
    this.nWord = nWord;
    this.featurizer = sharedFeaturizer(config);
  }

  get size(): number {
    return this.featureIds.length;
  }

  static fit(texts: readonly string[], config: FeatureConfig): Vectorizer {
    const f = new HashedFeaturizer(config);
    const space = 2 << config.hashBits;
    const df = new Int32Array(space);
    const lastDoc = new Int32Array(space).fill(-1);
    for (let d = 0; d < texts.length; d++) {
      const n = f.extract(texts[d] as string);
      const out = f.out;
      for (let i = 0; i < n; i++) {
        const g = out[i] as number;
        if (lastDoc[g] !== d) {
          lastDoc[g] = d;
          df[g] = (df[g] as number) + 1;
        }
      }
    }
    const minDf = Math.max(1, config.minDf);
    let kept = 0;
    for (let g = 0; g < space; g++) if ((df[g] as number) >= minDf) kept++;
    const ids = new Int32Array(kept);
    const idf = new Float32Array(kept);
    const nDocs = texts.length;
    let k = 0;
    for (let g = 0; g < space; g++) {
      const d = df[g] as number;
      if (d >= minDf) {
        ids[k] = g;
        idf[k] = Math.log((1 + nDocs) / (1 + d)) + 1;
        k++;
      }
    }
    return new Vectorizer(config, ids, idf);
  }

  /** Vectorises one text into vIdx/vVal (unsorted) and returns the number of non-zeros. */
  vectorize(text: string): number {
    const shared = this.featurizer;
    if (shared.lastText !== text) {
      shared.lastN = shared.featurizer.extract(text);
      shared.lastText = text;
    }
    const n = shared.lastN;
    const out = shared.featurizer.out;
    const buckets = this.buckets;
    const counts = (this.counts ??= new Float64Array(this.featureIds.length));
    if (this.vIdx.length < n) {
      this.vIdx = new Int32Array(n * 2);
      this.vVal = new Float64Array(n * 2);
    }
    const vIdx = this.vIdx;
    const vVal = this.vVal;
    let nnz = 0;
    for (let i = 0; i < n; i++) {
      const c = buckets.find(out[i] as number);
      if (c < 0) continue;
      if (counts[c] === 0) vIdx[nnz++] = c;
      counts[c] = (counts[c] as number) + 1;
    }
    const idf = this.idf;
    const nWord = this.nWord;
    const sublinear = this.config.sublinearTf;
    let sw = 0;
    let sc = 0;
    for (let i = 0; i < nnz; i++) {
      const c = vIdx[i] as number;
      const tf = counts[c] as number;
      counts[c] = 0;
      const v = (sublinear ? 1 + Math.log(tf) : tf) * (idf[c] as number);
      vVal[i] = v;
      if (c < nWord) sw += v * v;
      else sc += v * v;
    }
    const fw = sw > 0 ? this.config.wordWeight / Math.sqrt(sw) : 0;
    const fc = sc > 0 ? this.config.charWeight / Math.sqrt(sc) : 0;
    for (let i = 0; i < nnz; i++) vVal[i] = (vVal[i] as number) * ((vIdx[i] as number) < nWord ? fw : fc);
    return nnz;
  }

  transform(texts: readonly string[]): SparseRows {
    const rowPtr = new Int32Array(texts.length + 1);
    let cap = Math.max(1024, texts.length * 256);
    let idx = new Int32Array(cap);
    let val = new Float32Array(cap);
    let p = 0;
    for (let d = 0; d < texts.length; d++) {
      const nnz = this.vectorize(texts[d] as string);
      if (p + nnz > cap) {
        cap = Math.max(cap * 2, p + nnz);
        const i2 = new Int32Array(cap);
        i2.set(idx.subarray(0, p));
        idx = i2;
        const v2 = new Float32Array(cap);
        v2.set(val.subarray(0, p));
        val = v2;
      }
      idx.set(this.vIdx.subarray(0, nnz), p);
      for (let i = 0; i < nnz; i++) val[p + i] = this.vVal[i] as number;
      p += nnz;
      rowPtr[d + 1] = p;
    }
    return { rowPtr, idx: idx.slice(0, p), val: val.slice(0, p), nRows: texts.length, nCols: this.size };
  }
}

export function subsetRows(x: SparseRows, rows: readonly number[]): SparseRows {
  let total = 0;
  for (const r of rows) total += (x.rowPtr[r + 1] as number) - (x.rowPtr[r] as number);
  const rowPtr = new Int32Array(rows.length + 1);
  const idx = new Int32Array(total);
  const val = new Float32Array(total);
  let p = 0;
  rows.forEach((r, i) => {
    const a = x.rowPtr[r] as number;
    const b = x.rowPtr[r + 1] as number;
    idx.set(x.idx.subarray(a, b), p);
    val.set(x.val.subarray(a, b), p);
    p += b - a;
    rowPtr[i + 1] = p;
  });
  return { rowPtr, idx, val, nRows: rows.length, nCols: x.nCols };
}
