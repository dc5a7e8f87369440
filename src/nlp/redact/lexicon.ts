// The name lexicon: word lists kept as plain data files beside this module (see data/), loaded
// once. Lookups are by lower-cased word so that "john" and "John" both hit.
import { readFileSync } from 'node:fs';

function loadWords(file: string): Set<string> {
  const text = readFileSync(new URL(`./data/${file}`, import.meta.url), 'utf8');
  const words = new Set<string>();
  for (const line of text.split('\n')) {
    const hash = line.indexOf('#');
    const body = hash >= 0 ? line.slice(0, hash) : line;
    for (const w of body.split(/\s+/)) if (w) words.add(w.toLowerCase().replace(/’/g, "'"));
  }
  return words;
}

export const FIRST_NAMES: ReadonlySet<string> = loadWords('first-names.txt');
export const SURNAMES: ReadonlySet<string> = loadWords('surnames.txt');
/** First names that are also ordinary words, months or places (Will, Hope, May, Grace ...). */
export const AMBIGUOUS_FIRST: ReadonlySet<string> = loadWords('ambiguous.txt');
/** Surnames that are also ordinary words, places or job titles (Brown, Ward, Porter ...). */
export const AMBIGUOUS_SURNAMES: ReadonlySet<string> = loadWords('ambiguous-surnames.txt');
export const PLACES: ReadonlySet<string> = loadWords('places.txt');

function normal(word: string): string {
  return word.toLowerCase().replace(/’/g, "'");
}

export function isFirstName(word: string): boolean {
  return FIRST_NAMES.has(normal(word));
}
export function isSurname(word: string): boolean {
  return SURNAMES.has(normal(word));
}
/** A first name that is safe to take as a name on its own (not also a word or a place). */
export function isClearFirstName(word: string): boolean {
  const w = normal(word);
  return FIRST_NAMES.has(w) && !AMBIGUOUS_FIRST.has(w) && !PLACES.has(w);
}
/** A surname that is safe to take as a name on its own. */
export function isClearSurname(word: string): boolean {
  const w = normal(word);
  return SURNAMES.has(w) && !AMBIGUOUS_SURNAMES.has(w) && !PLACES.has(w) && !AMBIGUOUS_FIRST.has(w);
}
export function isPlace(word: string): boolean {
  return PLACES.has(normal(word));
}
