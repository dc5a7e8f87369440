import { describe, expect, it } from 'vitest';
import { allMatches } from './regex.ts';

const viaMatchAll = (re: RegExp, text: string) => [...text.matchAll(re)].map((m) => [m.index, ...m]);
const viaAllMatches = (re: RegExp, text: string) => allMatches(re, text).map((m) => [m.index, ...m]);

describe('allMatches', () => {
  it('finds what matchAll finds, empty matches and astral characters included', () => {
    const cases: Array<[RegExp, string]> = [
      [/\b(Dr|Nurse)\s+(\p{Lu}\p{L}+)/gu, 'Thank you Dr Patel and Nurse Óbí, and dr smith'],
      [/\d+/g, 'ward 7, bay 12, bed 3'],
      [/\b/g, 'two words'],
      [/(?:)/gu, 'a😀b'],
      [/x*/g, 'axxbx'],
      [/nothing/gi, 'no match here'],
    ];
    for (const [re, text] of cases) expect(viaAllMatches(re, text)).toEqual(viaMatchAll(re, text));
  });

  it('leaves the pattern ready for its next use, and refuses a pattern that is not global', () => {
    const re = /a/g;
    re.lastIndex = 3;
    expect(allMatches(re, 'banana')).toHaveLength(3);
    expect(re.lastIndex).toBe(0);
    expect(() => allMatches(/a/, 'banana')).toThrow(/global/);
  });
});
