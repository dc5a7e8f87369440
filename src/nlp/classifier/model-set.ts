// Several models read one comment together, with the answers each would give alone.

import { quantise, type Model, type Prediction } from './model.ts';
import { BucketTable, bigramBucket, fmix, forEachCharNgram, grown, TokenScanner, trigramBucket, type FeatureConfig } from './tokenize.ts';

/** What a cached word yields: its raw hash, and the union features of its unigram and its char n-grams. */
interface WordFeatures {
  hash: number;
  /** union id of the word as a unigram, or -1 */
  unigram: number;
  /** union ids of its char n-grams that some model keeps, in extraction order, repeats kept */
  chars: Int32Array;
  /** for each label of each model, the sum over those n-grams of idf * weight (int16 units) */
  sums: Float64Array;
  /** for each model, the sum over those n-grams of idf squared */
  squares: Float64Array;
}

/**
 * Words remembered at most (about 0.6 kB each with three models); the cache is emptied when full.
 * A comment's words are mostly common ones: the 4,234 shipped comments hold about 6,000 distinct.
 */
const WORD_CACHE_LIMIT = 20_000;

/** What a ModelSet is built into (see `ModelSet.build`): numbers and typed arrays, to keep and read back. */
export interface ModelSetState {
  numbers: { mask: number; charOffset: number; cMin: number; cMax: number; sublinear: boolean; rowLength: number };
  /** the union's bucket table (see BucketTable) */
  slots: Int32Array;
  isWord: Uint8Array;
  idf: Float64Array;
  q: Int16Array;
  offsets: Int32Array;
  scales: Float64Array;
  countedBy: Int32Array;
  wordWeights: Float64Array;
  charWeights: Float64Array;
  ends: Int32Array;
}

/**
 * The themes, sentiment and criticality models all read every story, and reading is most of what
 * they cost: hashing some 500 character n-grams per comment, finding each among a model's features,
 * and adding, for each feature found, its weight times its TF-IDF value to every label's score
 * (about 22,000 multiply-adds per comment for the three models).
 *
 * A ModelSet reads once for all of them:
 * - the features of every model are numbered together (their union), and one table finds a bucket
 *   among them all; the weights of a feature, for every label of every model, are one row (int16,
 *   as in the files);
 * - char n-grams (char_wb) never cross a word's edge, so a word's are found once and remembered with
 *   the sum of their idf-weighted rows. A comment's score is then its words' sums, one add per
 *   label per word, corrected for the n-grams it holds more than once (sublinear tf: 1 + log tf
 *   counts instead of tf) and then normalised per block, which a scalar per model does. That is
 *   about 8,000 multiply-adds instead of 22,000.
 *
 * Each model's answer is its own `predict`'s: its own counts (a model without trigrams does not
 * count them), idf, norms and weights; only the order of the additions differs, so scores agree to
 * about 1e-15 (the tests hold them to 1e-9 and the labels to equality).
 *
 * The models must share the hash space, the char n-gram range and sublinear tf; their word n-gram
 * ranges, block weights and labels may differ.
 */
export class ModelSet {
  readonly models: readonly Model[];
  private readonly m: number;
  private readonly mask: number;
  private readonly charOffset: number;
  private readonly cMin: number;
  private readonly cMax: number;
  private readonly sublinear: boolean;
  /** bucket id -> union id */
  private readonly buckets: BucketTable;
  /** union id -> is a word feature */
  private readonly isWord: Uint8Array;
  /** idf[u * m + j]: model j's idf of union feature u, 0 when model j does not keep it */
  private readonly idf: Float64Array;
  /** int16 weights, row u: every model's labels, model j's at offsets[j] */
  private readonly q: Int16Array;
  private readonly rowLength: number;
  private readonly offsets: Int32Array;
  private readonly scales: Float64Array;
  /** for each word n-gram order (1-3), the models that count it (bit j for model j) */
  private readonly countedBy: Int32Array;
  private readonly wordWeights: Float64Array;
  private readonly charWeights: Float64Array;
  private readonly words = new Map<string, WordFeatures>();

  // Per-text scratch, reused.
  private counts: Int32Array;
  private stamp: Int32Array;
  private seq = 0;
  private touched = new Int32Array(1024);
  private nTouched = 0;
  private wordHashes = new Int32Array(512);
  private wordUnigrams = new Int32Array(512);
  private readonly scanner = new TokenScanner();
  /** unnormalised sums per label of the set: word features, char features */
  private readonly accWord: Float64Array;
  private readonly accChar: Float64Array;
  private readonly ends: Int32Array;
  private readonly sw: Float64Array;
  /** per model, the char block's sum of squared TF-IDF values */
  private readonly sc: Float64Array;
  private readonly z: Float64Array[];

  /**
   * The set of `models`, built here, or from `state`: what an earlier build of the same models
   * made (see `state`), as the app keeps it beside the model files (stories/models.ts). Building
   * takes 60-110 ms; a state is checked only for its arrays' sizes against the models.
   */
  constructor(models: readonly Model[], state: ModelSetState = ModelSet.build(models)) {
    if (models.length === 0) throw new Error('a model set needs at least one model');
    const m = models.length;
    const { numbers, slots, isWord, idf, q, offsets, scales, countedBy, wordWeights, charWeights, ends } = state;
    const U = isWord.length;
    const rowLength = numbers.rowLength;
    const fits =
      offsets.length === m && ends.length === m && wordWeights.length === m && charWeights.length === m && countedBy.length === 4 &&
      rowLength === models.reduce((n, x) => n + x.labels.length, 0) && models.every((x, j) => (ends[j] as number) - (offsets[j] as number) === x.labels.length) &&
      idf.length === U * m && q.length === U * rowLength && scales.length === rowLength && slots.length >= 2 * U;
    if (!fits) throw new Error('the model set state does not fit these models');
    this.models = models;
    this.m = m;
    this.mask = numbers.mask;
    this.charOffset = numbers.charOffset;
    this.cMin = numbers.cMin;
    this.cMax = numbers.cMax;
    this.sublinear = numbers.sublinear;
    this.countedBy = countedBy;
    this.wordWeights = wordWeights;
    this.charWeights = charWeights;
    this.buckets = BucketTable.fromSlots(slots);
    this.isWord = isWord;
    this.offsets = offsets;
    this.rowLength = rowLength;
    this.idf = idf;
    this.q = q;
    this.scales = scales;
    this.ends = ends;
    this.counts = new Int32Array(U * m);
    this.stamp = new Int32Array(U);
    this.accWord = new Float64Array(rowLength);
    this.accChar = new Float64Array(rowLength);
    this.sw = new Float64Array(m);
    this.sc = new Float64Array(m);
    this.z = models.map((x) => new Float64Array(x.labels.length));
  }

  /** What this set was built into: to keep, and to give a later set of the same models. */
  get state(): ModelSetState {
    const numbers = { mask: this.mask, charOffset: this.charOffset, cMin: this.cMin, cMax: this.cMax, sublinear: this.sublinear, rowLength: this.rowLength };
    return { numbers, slots: this.buckets.slots, isWord: this.isWord, idf: this.idf, q: this.q, offsets: this.offsets, scales: this.scales, countedBy: this.countedBy, wordWeights: this.wordWeights, charWeights: this.charWeights, ends: this.ends };
  }

  /** The union of the models' features and their weights, one row per feature (see the class). */
  static build(models: readonly Model[]): ModelSetState {
    if (models.length === 0) throw new Error('a model set needs at least one model');
    const configs = models.map((x) => x.parts.vectorizer.config);
    const first = configs[0] as FeatureConfig;
    for (const c of configs) {
      if (c.hashBits !== first.hashBits || c.charNgrams[0] !== first.charNgrams[0] || c.charNgrams[1] !== first.charNgrams[1] || c.sublinearTf !== first.sublinearTf) {
        throw new Error('the models of a set must share hash bits, char n-grams and sublinear tf');
      }
      if (c.wordNgrams[1] > 3) throw new Error('word n-grams longer than three are not supported');
    }
    const m = models.length;
    const charOffset = 1 << first.hashBits;
    const countedBy = new Int32Array(4);
    configs.forEach((c, j) => {
      for (let o = Math.max(1, c.wordNgrams[0]); o <= c.wordNgrams[1]; o++) countedBy[o] = (countedBy[o] as number) | (1 << j);
    });

    // The union of every model's features, in bucket order.
    const all = new Set<number>();
    for (const x of models) for (const g of x.parts.vectorizer.featureIds) all.add(g);
    const union = Int32Array.from(all).sort();
    const U = union.length;
    const buckets = new BucketTable(union);

    const offsets = new Int32Array(m);
    let rowLength = 0;
    models.forEach((x, j) => {
      offsets[j] = rowLength;
      rowLength += x.labels.length;
    });
    const idf = new Float64Array(U * m);
    const q = new Int16Array(U * rowLength);
    const scales = new Float64Array(rowLength);
    models.forEach((x, j) => {
      const K = x.labels.length;
      const quantised = quantise(x.parts.weights, K);
      scales.set(quantised.scales, offsets[j]);
      const v = x.parts.vectorizer;
      for (let f = 0; f < v.featureIds.length; f++) {
        const u = buckets.find(v.featureIds[f] as number);
        idf[u * m + j] = v.idf[f] as number;
        q.set(quantised.q.subarray(f * K, (f + 1) * K), u * rowLength + (offsets[j] as number));
      }
    });
    return {
      numbers: { mask: charOffset - 1, charOffset, cMin: first.charNgrams[0], cMax: first.charNgrams[1], sublinear: first.sublinearTf, rowLength },
      slots: buckets.slots,
      isWord: Uint8Array.from(union, (g) => (g < charOffset ? 1 : 0)),
      idf,
      q,
      offsets,
      scales,
      countedBy,
      wordWeights: Float64Array.from(configs, (c) => c.wordWeight),
      charWeights: Float64Array.from(configs, (c) => c.charWeight),
      ends: Int32Array.from(models, (x, j) => (offsets[j] as number) + x.labels.length),
    };
  }

  /**
   * Counts one occurrence of union feature u for the models whose bit is set in `who`. A char
   * n-gram counts the same for every model: its count is kept in model 0's place alone.
   */
  private count(u: number, who: number): void {
    if (u < 0) return;
    if (this.stamp[u] !== this.seq) this.touch(u);
    const base = u * this.m;
    for (let j = 0; j < this.m; j++) if (who & (1 << j)) this.counts[base + j] = (this.counts[base + j] as number) + 1;
  }

  /** Notes union feature u as seen in this text, the first time it is. */
  private touch(u: number): void {
    this.stamp[u] = this.seq;
    this.touched = grown(this.touched, this.nTouched + 1);
    this.touched[this.nTouched++] = u;
  }

  /**
   * Adds `factor` times union feature u's idf-weighted row to `sums` (every model that keeps it) and
   * `squareFactor` times its idf squared to `squares`.
   */
  private addRow(sums: Float64Array, squares: Float64Array, u: number, factor: number, squareFactor: number): void {
    const m = this.m;
    const q = this.q;
    const row = u * this.rowLength;
    for (let j = 0; j < m; j++) {
      const f = this.idf[u * m + j] as number;
      if (f === 0) continue;
      squares[j] = (squares[j] as number) + squareFactor * f * f;
      const v = factor * f;
      const end = this.ends[j] as number;
      for (let k = this.offsets[j] as number; k < end; k++) sums[k] = (sums[k] as number) + (q[row + k] as number) * v;
    }
  }

  /** A token's features, remembered by its text (its codes are the scanner's). */
  private wordFeatures(raw: string, len: number, hash: number): WordFeatures {
    let w = this.words.get(raw);
    if (w) return w;
    const chars: number[] = [];
    if (this.cMax > 0) {
      forEachCharNgram(this.scanner.codes, len, this.cMin, this.cMax, this.mask, (b) => {
        const u = this.buckets.find(this.charOffset + b);
        if (u >= 0) chars.push(u);
      });
    }
    const sums = new Float64Array(this.rowLength);
    const squares = new Float64Array(this.m);
    for (const u of chars) this.addRow(sums, squares, u, 1, 1);
    w = { hash, unigram: this.buckets.find(fmix(hash) & this.mask), chars: Int32Array.from(chars), sums, squares };
    if (this.words.size >= WORD_CACHE_LIMIT) this.words.clear();
    this.words.set(raw, w);
    return w;
  }

  /** Counts every feature of the text (the same tokens, n-grams and order as `HashedFeaturizer.extract`). */
  private read(text: string): void {
    this.seq = (this.seq + 1) | 0;
    if (this.seq === 0) {
      this.stamp.fill(-1);
      this.seq = 1;
    }
    this.nTouched = 0;
    const m = this.m;
    const seq = this.seq;
    const stamp = this.stamp;
    const counts = this.counts;
    const accChar = this.accChar.fill(0);
    const sc = this.sc.fill(0);
    const s = text.toLowerCase();
    let nWords = 0;
    this.scanner.scan(s, (start, end, len, hash) => {
      const w = this.wordFeatures(s.slice(start, end), len, hash);
      this.wordHashes = grown(this.wordHashes, nWords + 1);
      this.wordUnigrams = grown(this.wordUnigrams, nWords + 1);
      this.wordHashes[nWords] = w.hash;
      this.wordUnigrams[nWords] = w.unigram;
      nWords++;
      // The word's char n-grams: counted (a char n-gram counts alike for every model, so in model
      // 0's place alone), and their idf-weighted rows and squares added at once.
      const chars = w.chars;
      for (let x = 0; x < chars.length; x++) {
        const u = chars[x] as number;
        if (stamp[u] !== seq) this.touch(u);
        counts[u * m] = (counts[u * m] as number) + 1;
      }
      const sums = w.sums;
      for (let x = 0; x < sums.length; x++) accChar[x] = (accChar[x] as number) + (sums[x] as number);
      const squares = w.squares;
      for (let j = 0; j < m; j++) sc[j] = (sc[j] as number) + (squares[j] as number);
    });
    const wh = this.wordHashes;
    const uni = this.countedBy[1] as number;
    if (uni) for (let i = 0; i < nWords; i++) this.count(this.wordUnigrams[i] as number, uni);
    const bi = this.countedBy[2] as number;
    if (bi) for (let i = 0; i + 1 < nWords; i++) this.count(this.buckets.find(bigramBucket(wh[i] as number, wh[i + 1] as number, this.mask)), bi);
    const tri = this.countedBy[3] as number;
    if (tri) for (let i = 0; i + 2 < nWords; i++) this.count(this.buckets.find(trigramBucket(wh[i] as number, wh[i + 1] as number, wh[i + 2] as number, this.mask)), tri);
  }

  /** Every model's decision values for the text (reused buffers: copy them to keep them). */
  decisions(text: string): Float64Array[] {
    this.read(text);
    const m = this.m;
    const n = this.nTouched;
    const touched = this.touched;
    const counts = this.counts;
    const idf = this.idf;
    const isWord = this.isWord;
    const sublinear = this.sublinear;
    const sw = this.sw.fill(0);
    const sc = this.sc;
    const accWord = this.accWord.fill(0);
    const accChar = this.accChar;
    const q = this.q;
    const R = this.rowLength;
    const offsets = this.offsets;
    const ends = this.ends;
    for (let t = 0; t < n; t++) {
      const u = touched[t] as number;
      if (isWord[u] === 1) {
        // Word n-grams: each model counts the orders it was trained on.
        const row = u * R;
        for (let j = 0; j < m; j++) {
          const tf = counts[u * m + j] as number;
          counts[u * m + j] = 0;
          const f = idf[u * m + j] as number;
          if (tf === 0 || f === 0) continue;
          const v = (sublinear && tf > 1 ? 1 + Math.log(tf) : tf) * f;
          sw[j] = (sw[j] as number) + v * v;
          const end = ends[j] as number;
          for (let k = offsets[j] as number; k < end; k++) accWord[k] = (accWord[k] as number) + (q[row + k] as number) * v;
        }
        continue;
      }
      // Char n-grams, counted the same for every model: the words' sums counted each occurrence
      // once; an n-gram seen tf > 1 times should count 1 + log tf (sublinear) instead of tf.
      const tf = counts[u * m] as number;
      counts[u * m] = 0;
      if (tf > 1 && sublinear) {
        const g = 1 + Math.log(tf);
        this.addRow(accChar, sc, u, g - tf, g * g - tf);
      }
    }
    for (let j = 0; j < m; j++) {
      const fw = (sw[j] as number) > 0 ? (this.wordWeights[j] as number) / Math.sqrt(sw[j] as number) : 0;
      const fc = (sc[j] as number) > 0 ? (this.charWeights[j] as number) / Math.sqrt(sc[j] as number) : 0;
      const z = this.z[j] as Float64Array;
      const biases = (this.models[j] as Model).parts.biases;
      const off = offsets[j] as number;
      for (let k = 0; k < z.length; k++) {
        z[k] = (biases[k] as number) + (fw * (accWord[off + k] as number) + fc * (accChar[off + k] as number)) * (this.scales[off + k] as number);
      }
    }
    return this.z;
  }

  /** Every model's prediction for the text, in the set's order. */
  predict(text: string): Prediction[] {
    const zs = this.decisions(text);
    return this.models.map((x, j) => x.predictionOf(zs[j] as Float64Array));
  }
}
