import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ftsQuery } from './read.ts';

describe('ftsQuery', () => {
  it('makes quoted single words of what was typed, whatever it holds', () => {
    expect(ftsQuery('Dirty toilets!! ward "7" OR NOT (x)')).toBe('"dirty" "toilets" "ward" "7" "or" "not" "x"');
    expect(ftsQuery('  ')).toBe('');
    expect(ftsQuery('a b c d e f g h i j k l m n').split(' ')).toHaveLength(12);
  });

  it('never gives SQLite a phrase: every letter and digit between two letters stays one word to its tokenizer', () => {
    // The index keeps no positions (detail=none), so a term SQLite splits in two is an error.
    const db = new Database(':memory:');
    db.exec("CREATE VIRTUAL TABLE f USING fts5(a, tokenize='porter unicode61', detail=none); INSERT INTO f VALUES ('x')");
    const search = db.prepare('SELECT count(*) FROM f WHERE f MATCH ?').pluck();
    const failed: string[] = [];
    for (let cp = 0x80; cp <= 0x10ffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      if (!/[\p{L}\p{N}]/u.test(ch)) continue;
      const query = ftsQuery(`a${ch}b`);
      try {
        search.get(query);
      } catch (err) {
        failed.push(`U+${cp.toString(16)}: ${(err as Error).message}`);
      }
    }
    db.close();
    expect(failed).toEqual([]);
  });
});
