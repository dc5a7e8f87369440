// Hand-written tokeniser and hashed feature extraction. Hot path: no per-token string
// allocation; features are hashed straight from character codes.

export interface FeatureConfig {
  /** log2 of the hash space of each block (word block and char block). */
  hashBits: number;
  /** word n-gram range, e.g. [1, 2]; [0, 0] disables word features. */
  wordNgrams: [number, number];
  /** char n-gram range within word boundaries (char_wb), e.g. [2, 5]; [0, 0] disables. */
  charNgrams: [number, number];
  /** weight applied to each L2-normalised block (FeatureUnion style). */
  wordWeight: number;
  charWeight: number;
  sublinearTf: boolean;
  minDf: number;
}

export const DEFAULT_FEATURES: FeatureConfig = {
  hashBits: 20,
  wordNgrams: [1, 2],
  charNgrams: [2, 5],
  wordWeight: 1,
  charWeight: 1,
  sublinearTf: true,
  minDf: 2,
};

const WORD_SEED = 0x2f6b1a3d;
const BIGRAM_SEED = 0x5bd1e995;
const TRIGRAM_SEED = 0x1b873593;
const CHAR_SEED = 0x7feb352d;

/** 0 = separator, 1 = token character, 2 = apostrophe (dropped inside a token). */
function charClass(c: number): number {
  if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57)) return 1;
  if (c === 39 || c === 8217 || c === 8216 || c === 96) return 2;
  if (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7) return 1;
  return 0;
}

/** Lowercased word tokens, apostrophes removed ("Didn't" -> "didnt"). Reference (slow) version. */
export function tokenize(text: string): string[] {
  const s = text.toLowerCase();
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const k = charClass(c);
    if (k === 1) cur += s[i];
    else if (k === 2 && cur.length > 0) continue;
    else if (cur.length > 0) {
      out.push(cur);
      cur = '';
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function fnvStep(h: number, c: number): number {
  return Math.imul(h ^ c, 16777619);
}

export function hashWord(word: string): number {
  let h = (2166136261 ^ WORD_SEED) | 0;
  for (let i = 0; i < word.length; i++) h = fnvStep(h, word.charCodeAt(i));
  return h;
}

/** Bucket of a word n-gram given the raw hashes of its words. */
export function wordNgramBucket(hashes: number[], mask: number): number {
  const first = hashes[0] ?? 0;
  if (hashes.length === 1) return fmix(first) & mask;
  let h = hashes.length === 2 ? BIGRAM_SEED : TRIGRAM_SEED;
  for (const x of hashes) h = Math.imul(h ^ x, 0x9e3779b1) ^ (h >>> 15);
  return fmix(h) & mask;
}

/** Bucket of a char n-gram string (already padded with spaces where at a word boundary). */
export function charNgramBucket(gram: string, mask: number): number {
  let h = (2166136261 ^ CHAR_SEED) | 0;
  for (let i = 0; i < gram.length; i++) h = fnvStep(h, gram.charCodeAt(i));
  return fmix(h) & mask;
}

/** Reference list of char_wb n-grams of one word: n-grams of " word " with min <= n <= max. */
export function charNgrams(word: string, min: number, max: number): string[] {
  const padded = ` ${word} `;
  const out: string[] = [];
  for (let start = 0; start < padded.length; start++) {
    for (let n = min; n <= max && start + n <= padded.length; n++) out.push(padded.slice(start, start + n));
  }
  return out;
}

/**
 * Reusable extractor: writes global feature indices (word block in [0, 2^bits), char block in
 * [2^bits, 2^(bits+1))) into an internal buffer and returns how many it wrote.
 */
export class HashedFeaturizer {
  readonly config: FeatureConfig;
  private readonly mask: number;
  private readonly charOffset: number;
  out: Int32Array = new Int32Array(4096);
  private wordHashes: Int32Array = new Int32Array(512);
  private codes: Int32Array = new Int32Array(256);

  constructor(config: FeatureConfig) {
    this.config = config;
    this.mask = (1 << config.hashBits) - 1;
    this.charOffset = 1 << config.hashBits;
  }

  private push(n: number, v: number): number {
    if (n >= this.out.length) {
      const bigger = new Int32Array(this.out.length * 2);
      bigger.set(this.out);
      this.out = bigger;
    }
    this.out[n] = v;
    return n + 1;
  }

  /** Returns the number of feature indices written to `this.out`; `wordCount` is set as a side value. */
  extract(text: string): number {
    const s = text.toLowerCase();
    const cfg = this.config;
    const [wMin, wMax] = cfg.wordNgrams;
    const [cMin, cMax] = cfg.charNgrams;
    const doChars = cMax > 0;
    let n = 0;
    let nWords = 0;
    let tokLen = 0;
    let h = 0;
    const len = s.length;
    for (let i = 0; i <= len; i++) {
      const c = i < len ? s.charCodeAt(i) : 32;
      const k = charClass(c);
      if (k === 1) {
        if (tokLen === 0) h = (2166136261 ^ WORD_SEED) | 0;
        h = fnvStep(h, c);
        if (doChars) {
          if (tokLen + 2 >= this.codes.length) {
            const bigger = new Int32Array(this.codes.length * 2);
            bigger.set(this.codes);
            this.codes = bigger;
          }
          this.codes[tokLen + 1] = c;
        }
        tokLen++;
        continue;
      }
      if (k === 2 && tokLen > 0) continue;
      if (tokLen === 0) continue;
      // end of a token
      if (nWords >= this.wordHashes.length) {
        const bigger = new Int32Array(this.wordHashes.length * 2);
        bigger.set(this.wordHashes);
        this.wordHashes = bigger;
      }
      this.wordHashes[nWords++] = h;
      if (doChars) {
        const codes = this.codes;
        codes[0] = 32;
        codes[tokLen + 1] = 32;
        const plen = tokLen + 2;
        for (let start = 0; start < plen; start++) {
          let g = (2166136261 ^ CHAR_SEED) | 0;
          const end = Math.min(plen, start + cMax);
          for (let j = start; j < end; j++) {
            g = fnvStep(g, codes[j] as number);
            if (j - start + 1 >= cMin) n = this.push(n, this.charOffset + (fmix(g) & this.mask));
          }
        }
      }
      tokLen = 0;
    }
    if (wMax > 0) {
      const wh = this.wordHashes;
      if (wMin <= 1) for (let i = 0; i < nWords; i++) n = this.push(n, fmix(wh[i] as number) & this.mask);
      if (wMin <= 2 && wMax >= 2) {
        for (let i = 0; i + 1 < nWords; i++) {
          let g = BIGRAM_SEED;
          g = Math.imul(g ^ (wh[i] as number), 0x9e3779b1) ^ (g >>> 15);
          g = Math.imul(g ^ (wh[i + 1] as number), 0x9e3779b1) ^ (g >>> 15);
          n = this.push(n, fmix(g) & this.mask);
        }
      }
      if (wMax >= 3) {
        for (let i = 0; i + 2 < nWords; i++) {
          let g = TRIGRAM_SEED;
          g = Math.imul(g ^ (wh[i] as number), 0x9e3779b1) ^ (g >>> 15);
          g = Math.imul(g ^ (wh[i + 1] as number), 0x9e3779b1) ^ (g >>> 15);
          g = Math.imul(g ^ (wh[i + 2] as number), 0x9e3779b1) ^ (g >>> 15);
          n = this.push(n, fmix(g) & this.mask);
        }
      }
    }
    return n;
  }
}

/** Slow reference: global feature indices computed from feature strings (used by tests). */
export function referenceFeatureIndices(text: string, cfg: FeatureConfig): number[] {
  const mask = (1 << cfg.hashBits) - 1;
  const words = tokenize(text);
  const out: number[] = [];
  if (cfg.charNgrams[1] > 0) {
    for (const w of words) {
      for (const g of charNgrams(w, cfg.charNgrams[0], cfg.charNgrams[1])) {
        out.push((1 << cfg.hashBits) + charNgramBucket(g, mask));
      }
    }
  }
  const hashes = words.map(hashWord);
  for (let n = Math.max(1, cfg.wordNgrams[0]); n <= cfg.wordNgrams[1]; n++) {
    for (let i = 0; i + n <= hashes.length; i++) out.push(wordNgramBucket(hashes.slice(i, i + n), mask));
  }
  return out;
}
