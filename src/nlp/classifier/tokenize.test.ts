import { describe, expect, it } from 'vitest';
import { DEFAULT_FEATURES, HashedFeaturizer, charNgrams, referenceFeatureIndices, tokenize } from './tokenize.ts';

describe('tokenize', () => {
  it('lowercases, splits on punctuation and keeps negations', () => {
    expect(tokenize("Didn't like it. NOT good, no!")).toEqual(['didnt', 'like', 'it', 'not', 'good', 'no']);
    expect(tokenize('I wasn’t told [Name] XXXX')).toEqual(['i', 'wasnt', 'told', 'name', 'xxxx']);
    expect(tokenize('  ')).toEqual([]);
    expect(tokenize("café 24/7 'quoted'")).toEqual(['café', '24', '7', 'quoted']);
  });

  it('makes char n-grams within word boundaries', () => {
    expect(charNgrams('ab', 2, 5)).toEqual([' a', ' ab', ' ab ', 'ab', 'ab ', 'b ']);
    expect(charNgrams('a', 3, 3)).toEqual([' a ']);
  });

  it('fast hashed features equal the reference string features', () => {
    const cfg = { ...DEFAULT_FEATURES, hashBits: 18, wordNgrams: [1, 3] as [number, number] };
    const f = new HashedFeaturizer(cfg);
    for (const text of ["The nurse didn't listen!!", 'Parking, parking and more PARKING', 'x', '', 'Ambulance was 3 hours late; very poor.']) {
      const n = f.extract(text);
      const fast = Array.from(f.out.subarray(0, n)).sort((a, b) => a - b);
      const ref = referenceFeatureIndices(text, cfg).sort((a, b) => a - b);
      expect(fast).toEqual(ref);
    }
  });

  it('grows its buffers for long texts', () => {
    const f = new HashedFeaturizer(DEFAULT_FEATURES);
    const long = 'word '.repeat(3000) + 'a'.repeat(600);
    expect(f.extract(long)).toBe(referenceFeatureIndices(long, DEFAULT_FEATURES).length);
  });
});
