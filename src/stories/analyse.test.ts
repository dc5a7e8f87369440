import { describe, expect, it } from 'vitest';
import { analyse } from './analyse.ts';

describe('analyse: a title that is the start of its body', () => {
  it("takes the body's findings within the title, which the body's reading has told from places", () => {
    const a = analyse({ title: 'We were sent to St James’s University…', body: 'We were sent to St James’s University Hospital in Leeds at 08.30. Sarah Jones was wonderful.', rating: null });
    expect(a.titleFindings).toEqual([]);
    expect(a.title).toBe('We were sent to St James’s University…');
    expect(a.bodyFindings.map((f) => f.text)).toEqual(['08.30', 'Sarah Jones']);
  });

  it('gives the title its findings at the same offsets', () => {
    const a = analyse({ title: 'My husband John was seen at 10:30', body: 'My husband John was seen at 10:30. The staff were kind.', rating: null });
    expect(a.titleFindings.map((f) => [f.text, f.start])).toEqual([
      ['John', 11],
      ['10:30', 28],
    ]);
    expect(a.title).not.toContain('John');
    expect(a.title).not.toContain('10:30');
  });

  it('looks at the title alone when a finding runs past its end', () => {
    const a = analyse({ title: 'Thank you to Dr Patel…', body: 'Thank you to Dr Patel Singh and the whole team on ward 7', rating: null });
    expect(a.body).not.toContain('Patel');
    expect(a.title).not.toContain('Patel');
  });

  it('looks at a title of its own alone', () => {
    const a = analyse({ title: 'Thanks to Sarah', body: 'The ward was calm and clean.', rating: null });
    expect(a.titleFindings.map((f) => f.text)).toEqual(['Sarah']);
  });
});
