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

/** 0 = separator, 1 = token character, 2 = apostrophe (dropped inside a token); of a lower-cased code. */
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

export function fmix(h: number): number {
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

/** The running hash of a word starts here; `fnvStep` adds each of its characters. */
const WORD_HASH_START = (2166136261 ^ WORD_SEED) | 0;
const CHAR_HASH_START = (2166136261 ^ CHAR_SEED) | 0;

/** Bucket of a word bigram or trigram from its words' raw hashes (as `extract` computes it). */
export function bigramBucket(a: number, b: number, mask: number): number {
  let g = BIGRAM_SEED;
  g = Math.imul(g ^ a, 0x9e3779b1) ^ (g >>> 15);
  g = Math.imul(g ^ b, 0x9e3779b1) ^ (g >>> 15);
  return fmix(g) & mask;
}
export function trigramBucket(a: number, b: number, c: number, mask: number): number {
  let g = TRIGRAM_SEED;
  g = Math.imul(g ^ a, 0x9e3779b1) ^ (g >>> 15);
  g = Math.imul(g ^ b, 0x9e3779b1) ^ (g >>> 15);
  g = Math.imul(g ^ c, 0x9e3779b1) ^ (g >>> 15);
  return fmix(g) & mask;
}

/**
 * Calls `emit` with the bucket of each char_wb n-gram of one token, in order of start then length:
 * `codes[1..len]` hold its characters; `codes[0]` and `codes[len + 1]` are set to the padding space.
 */
export function forEachCharNgram(codes: Int32Array, len: number, min: number, max: number, mask: number, emit: (bucket: number) => void): void {
  codes[0] = 32;
  codes[len + 1] = 32;
  const plen = len + 2;
  for (let start = 0; start < plen; start++) {
    let g = CHAR_HASH_START;
    const end = Math.min(plen, start + max);
    for (let j = start; j < end; j++) {
      g = fnvStep(g, codes[j] as number);
      if (j - start + 1 >= min) emit(fmix(g) & mask);
    }
  }
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
 * Bucket id -> number, for the few tens of thousands of buckets a model keeps out of millions: open
 * addressing, keys and values interleaved, about three slots a key (0.5-1 MB a model, where a dense
 * array over the whole hash space was 8 MB a model, in every thread that loads the models).
 */
export class BucketTable {
  /** Pairs (key, number), -1 where empty; a power of two of them. */
  readonly slots: Int32Array;
  private readonly mask: number;

  /** A table as another one's `slots` hold it. */
  static fromSlots(slots: Int32Array): BucketTable {
    const size = slots.length / 2;
    if (!Number.isInteger(size) || size < 1 || (size & (size - 1)) !== 0) throw new Error('bucket table slots must be a power of two of pairs');
    return new BucketTable(new Int32Array(0), slots);
  }

  /** Maps keys[i] to i; the keys must be distinct and not negative. */
  constructor(keys: Int32Array, slots?: Int32Array) {
    if (slots) {
      this.slots = slots;
      this.mask = slots.length / 2 - 1;
      return;
    }
    let size = 16;
    while (size < keys.length * 3) size *= 2;
    this.slots = new Int32Array(size * 2).fill(-1);
    this.mask = size - 1;
    for (let i = 0; i < keys.length; i++) {
      const g = keys[i] as number;
      if (g < 0) throw new Error('bucket ids are not negative');
      let s = Math.imul(g, 0x9e3779b1) & this.mask;
      while (this.slots[2 * s] !== -1) {
        if (this.slots[2 * s] === g) throw new Error('bucket ids repeat');
        s = (s + 1) & this.mask;
      }
      this.slots[2 * s] = g;
      this.slots[2 * s + 1] = i;
    }
  }

  /** The number of bucket g, or -1 when it has none. */
  find(g: number): number {
    const slots = this.slots;
    let s = Math.imul(g, 0x9e3779b1) & this.mask;
    for (;;) {
      const key = slots[2 * s] as number;
      if (key === g) return slots[2 * s + 1] as number;
      if (key === -1) return -1;
      s = (s + 1) & this.mask;
    }
  }
}

/** `a` itself when it holds `need` values, else a copy twice as long (or longer). */
export function grown<T extends Int32Array>(a: T, need: number): T {
  if (need <= a.length) return a;
  const bigger = new Int32Array(Math.max(need, a.length * 2));
  bigger.set(a);
  return bigger as T;
}

/**
 * Splits a lower-cased text into word tokens without making a string per token: for each, calls
 * `onToken` with where it starts and ends in `s`, its length without apostrophes, and its raw word
 * hash; its character codes are in `codes[1..len]` (room is left either side for the char_wb
 * padding) until the next token.
 */
export class TokenScanner {
  codes: Int32Array = new Int32Array(256);

  scan(s: string, onToken: (start: number, end: number, len: number, hash: number) => void): void {
    let tokLen = 0;
    let tokStart = 0;
    let h = 0;
    const len = s.length;
    for (let i = 0; i <= len; i++) {
      const c = i < len ? s.charCodeAt(i) : 32;
      const k = charClass(c);
      if (k === 1) {
        if (tokLen === 0) {
          h = WORD_HASH_START;
          tokStart = i;
        }
        h = fnvStep(h, c);
        this.codes = grown(this.codes, tokLen + 3);
        this.codes[tokLen + 1] = c;
        tokLen++;
        continue;
      }
      if (k === 2 && tokLen > 0) continue;
      if (tokLen === 0) continue;
      onToken(tokStart, i, tokLen, h);
      tokLen = 0;
    }
  }
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
  private readonly scanner = new TokenScanner();

  constructor(config: FeatureConfig) {
    this.config = config;
    this.mask = (1 << config.hashBits) - 1;
    this.charOffset = 1 << config.hashBits;
  }

  private push(n: number, v: number): number {
    this.out = grown(this.out, n + 1);
    this.out[n] = v;
    return n + 1;
  }

  /** Returns the number of feature indices written to `this.out`. */
  extract(text: string): number {
    const cfg = this.config;
    const [wMin, wMax] = cfg.wordNgrams;
    const [cMin, cMax] = cfg.charNgrams;
    const doChars = cMax > 0;
    let n = 0;
    let nWords = 0;
    const emitChar = (b: number) => (n = this.push(n, this.charOffset + b));
    this.scanner.scan(text.toLowerCase(), (_start, _end, len, hash) => {
      this.wordHashes = grown(this.wordHashes, nWords + 1);
      this.wordHashes[nWords++] = hash;
      if (doChars) forEachCharNgram(this.scanner.codes, len, cMin, cMax, this.mask, emitChar);
    });
    if (wMax > 0) {
      const wh = this.wordHashes;
      if (wMin <= 1) for (let i = 0; i < nWords; i++) n = this.push(n, fmix(wh[i] as number) & this.mask);
      if (wMin <= 2 && wMax >= 2) for (let i = 0; i + 1 < nWords; i++) n = this.push(n, bigramBucket(wh[i] as number, wh[i + 1] as number, this.mask));
      if (wMax >= 3) for (let i = 0; i + 2 < nWords; i++) n = this.push(n, trigramBucket(wh[i] as number, wh[i + 1] as number, wh[i + 2] as number, this.mask));
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
