// Finding identifying details in patient stories (PRODUCT.md, rules for moderation): NHS numbers,
// phone numbers, emails, links, postcodes, dates of birth, exact dates, clock times, street
// addresses and people's names. Rule-based and self-contained: no network, no app imports.
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Candidate, Finding } from './types.ts';
import { findAddresses, findDates, findEmailsAndLinks, findNhsNumbers, findPhones, findPostcodes, findTimes } from './patterns.ts';
import { findNames } from './names.ts';

export type { Finding, FindingType } from './types.ts';
export { isValidNhsNumber } from './patterns.ts';

export interface FindOptions {
  /** Praise context: a member of staff's first name alone may stay (PRODUCT.md). Patients' and
   * relatives' names, surnames and "Dr Smith" are still removed. */
  staffNamesAllowed?: boolean;
}

export function findIdentifyingDetails(text: string, opts: FindOptions = {}): Finding[] {
  if (!text) return [];
  const cands: Candidate[] = [];
  findEmailsAndLinks(text, cands);
  if (/\d/.test(text)) {
    findNhsNumbers(text, cands);
    findPhones(text, cands);
    findPostcodes(text, cands);
    findDates(text, cands);
  }
  // word times ("half past three") and street names ("lives on Acacia Avenue") need no digit
  findTimes(text, cands);
  findAddresses(text, cands);
  findNames(text, cands);
  const kept = resolveOverlaps(
    opts.staffNamesAllowed ? cands.filter((c) => !(c.type === 'name' && c.role !== 'person' && c.firstNameOnly)) : cands,
  );
  return kept.map((c) => ({ type: c.type, start: c.start, end: c.end, text: text.slice(c.start, c.end), replacement: c.replacement }));
}

/** Highest priority first, then the longest; a candidate overlapping one already taken is dropped,
 * except that a longer address or date absorbs the smaller pieces inside it. */
function resolveOverlaps(cands: Candidate[]): Candidate[] {
  const sorted = cands
    .filter((c) => c.end > c.start)
    .sort((a, b) => b.priority - a.priority || b.end - b.start - (a.end - a.start) || a.start - b.start);
  const taken: Candidate[] = [];
  for (const c of sorted) {
    if (taken.some((t) => t.start < c.end && c.start < t.end)) continue;
    taken.push(c);
  }
  return taken.sort((a, b) => a.start - b.start);
}

/** Replaces each finding (non-overlapping, offsets into `text`) with its replacement. */
export function applyRedactions(text: string, findings: readonly Finding[]): string {
  const sorted = [...findings].sort((a, b) => a.start - b.start);
  let out = '';
  let pos = 0;
  for (const f of sorted) {
    if (f.start < pos) continue;
    out += text.slice(pos, f.start) + f.replacement;
    pos = f.end;
  }
  return out + text.slice(pos);
}

export function redact(text: string, opts: FindOptions = {}): { text: string; findings: Finding[] } {
  const findings = findIdentifyingDetails(text, opts);
  return { text: applyRedactions(text, findings), findings };
}

/** Reads JSON lines {"id","text"} and writes {"id","text","findings":[{"type","start","end"}]}
 * with every finding replaced in text (offsets into the original). A bad line throws an Error
 * naming its line number, and nothing is written. */
export async function redactFile(opts: { in: string; out: string }): Promise<{ count: number }> {
  const lines: string[] = [];
  const rl = createInterface({ input: createReadStream(opts.in, 'utf8'), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (err) {
      throw new Error(`line ${lineNo}: not valid JSON (${(err as Error).message})`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new Error(`line ${lineNo}: expected a JSON object`);
    const r = rec as Record<string, unknown>;
    if (typeof r.id !== 'string' && typeof r.id !== 'number') throw new Error(`line ${lineNo}: "id" must be a string or number`);
    if (typeof r.text !== 'string') throw new Error(`line ${lineNo}: "text" must be a string`);
    const result = redact(r.text);
    lines.push(
      JSON.stringify({
        id: r.id,
        text: result.text,
        findings: result.findings.map((f) => ({ type: f.type, start: f.start, end: f.end })),
      }),
    );
  }
  await writeFile(opts.out, lines.length ? lines.join('\n') + '\n' : '', 'utf8');
  return { count: lines.length };
}
