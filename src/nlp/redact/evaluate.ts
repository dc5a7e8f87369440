// Evaluates the redactor on labelled cases (test/fixtures/redaction/cases.jsonl): per-type recall,
// how many ordinary care words survive, how many clean stories are left untouched, and speed.
// CLI: npx tsx src/nlp/redact/evaluate.ts [--cases F.jsonl] [--comments F.csv] [--verbose]
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { findIdentifyingDetails, applyRedactions } from './index.ts';
import type { Finding, FindingType } from './types.ts';

export interface RedactionCase {
  id: string;
  text: string;
  expect: Array<{ type: FindingType; text: string }>;
  keep?: string[];
}

export interface TypeScore {
  expected: number;
  found: number;
  recall: number;
}

export interface RedactionReport {
  cases: number;
  perType: Partial<Record<FindingType, TypeScore>>;
  /** recall when any finding type covering the detail counts (e.g. a date found as a time) */
  anyTypeRecall: number;
  namesAndAddressesRecall: number;
  careWords: { total: number; kept: number; keepRate: number };
  clean: { total: number; unchanged: number; unchangedRate: number };
  /** findings in labelled stories that overlap no expected detail */
  extraFindings: number;
  failures: Array<{ id: string; kind: 'missed' | 'removed_care_word' | 'changed_clean' | 'extra'; detail: string }>;
}

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEFAULT_CASES = `${ROOT}test/fixtures/redaction/cases.jsonl`;
export const DEFAULT_COMMENTS = `${ROOT}../shared/data/patient-experience/phase1-train.csv`;

export function loadCases(path: string = DEFAULT_CASES): RedactionCase[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as RedactionCase;
      } catch {
        throw new Error(`${path}: line ${i + 1} is not valid JSON`);
      }
    });
}

/** Start offsets of whole-word occurrences of `needle` in `text`. */
function occurrences(text: string, needle: string): number[] {
  const out: number[] = [];
  if (!needle) return out;
  let from = 0;
  for (;;) {
    const i = text.indexOf(needle, from);
    if (i < 0) break;
    const before = text[i - 1] ?? '';
    const after = text[i + needle.length] ?? '';
    const edgeOk = (ch: string, inner: string): boolean => !(/[\p{L}\p{N}]/u.test(ch) && /[\p{L}\p{N}]/u.test(inner));
    if (edgeOk(before, needle[0] ?? '') && edgeOk(after, needle[needle.length - 1] ?? '')) out.push(i);
    from = i + 1;
  }
  return out;
}

/** Every letter and digit of [start, end) lies inside one of the findings. */
function covered(text: string, start: number, end: number, findings: readonly Finding[]): boolean {
  for (let i = start; i < end; i++) {
    if (!/[\p{L}\p{N}]/u.test(text[i] ?? '')) continue;
    if (!findings.some((f) => f.start <= i && i < f.end)) return false;
  }
  return true;
}

export function evaluateRedaction(cases: readonly RedactionCase[]): RedactionReport {
  const perType: Partial<Record<FindingType, TypeScore>> = {};
  const failures: RedactionReport['failures'] = [];
  let anyFound = 0;
  let anyTotal = 0;
  let keepTotal = 0;
  let keepKept = 0;
  let cleanTotal = 0;
  let cleanUnchanged = 0;
  let extra = 0;
  for (const c of cases) {
    const findings = findIdentifyingDetails(c.text);
    const used = new Map<string, number>();
    const expectedSpans: Array<[number, number]> = [];
    for (const e of c.expect) {
      const score = (perType[e.type] ??= { expected: 0, found: 0, recall: 0 });
      score.expected++;
      anyTotal++;
      const occ = occurrences(c.text, e.text);
      const k = used.get(e.text) ?? 0;
      used.set(e.text, k + 1);
      const at = occ[k] ?? occ[0];
      if (at === undefined) throw new Error(`case ${c.id}: expected text "${e.text}" is not in the story`);
      const end = at + e.text.length;
      expectedSpans.push([at, end]);
      const sameType = findings.filter((f) => f.type === e.type);
      if (covered(c.text, at, end, sameType)) score.found++;
      else failures.push({ id: c.id, kind: 'missed', detail: `${e.type} "${e.text}" (found: ${findings.map((f) => `${f.type}:${f.text}`).join(', ') || 'nothing'})` });
      if (covered(c.text, at, end, findings)) anyFound++;
    }
    for (const w of c.keep ?? []) {
      for (const at of occurrences(c.text, w)) {
        keepTotal++;
        const hit = findings.find((f) => f.start < at + w.length && at < f.end);
        if (hit) failures.push({ id: c.id, kind: 'removed_care_word', detail: `"${w}" inside ${hit.type} "${hit.text}"` });
        else keepKept++;
      }
    }
    if (c.expect.length === 0) {
      cleanTotal++;
      if (findings.length === 0 && applyRedactions(c.text, findings) === c.text) cleanUnchanged++;
      else failures.push({ id: c.id, kind: 'changed_clean', detail: findings.map((f) => `${f.type}:${f.text}`).join(', ') });
    } else {
      for (const f of findings) {
        if (!expectedSpans.some(([s, e]) => f.start < e && s < f.end)) {
          extra++;
          failures.push({ id: c.id, kind: 'extra', detail: `${f.type}:${f.text}` });
        }
      }
    }
  }
  for (const s of Object.values(perType)) s.recall = s.expected ? s.found / s.expected : 1;
  const na = (['name', 'address'] as const).reduce(
    (acc, t) => ({ e: acc.e + (perType[t]?.expected ?? 0), f: acc.f + (perType[t]?.found ?? 0) }),
    { e: 0, f: 0 },
  );
  return {
    cases: cases.length,
    perType,
    anyTypeRecall: anyTotal ? anyFound / anyTotal : 1,
    namesAndAddressesRecall: na.e ? na.f / na.e : 1,
    careWords: { total: keepTotal, kept: keepKept, keepRate: keepTotal ? keepKept / keepTotal : 1 },
    clean: { total: cleanTotal, unchanged: cleanUnchanged, unchangedRate: cleanTotal ? cleanUnchanged / cleanTotal : 1 },
    extraFindings: extra,
    failures,
  };
}

/** A small RFC 4180 reader: quoted fields, doubled quotes, newlines inside quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else if (c !== '\r') field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

export function loadComments(path: string = DEFAULT_COMMENTS, column = 'feedback'): string[] {
  const rows = parseCsv(readFileSync(path, 'utf8'));
  const col = rows[0]?.indexOf(column) ?? -1;
  if (col < 0) throw new Error(`${path}: no "${column}" column`);
  return rows.slice(1).map((r) => r[col] ?? '').filter((t) => t.trim() !== '');
}

/** Stories per second for find + apply over the given texts (at least `minMs` of work). */
export function measureSpeed(texts: readonly string[], minMs = 1000): { stories: number; seconds: number; storiesPerSecond: number } {
  if (texts.length === 0) return { stories: 0, seconds: 0, storiesPerSecond: 0 };
  for (const t of texts.slice(0, 200)) applyRedactions(t, findIdentifyingDetails(t)); // warm up
  let n = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (elapsed < minMs) {
    for (const t of texts) applyRedactions(t, findIdentifyingDetails(t));
    n += texts.length;
    elapsed = performance.now() - t0;
  }
  return { stories: n, seconds: elapsed / 1000, storiesPerSecond: Math.round(n / (elapsed / 1000)) };
}

function main(argv: string[]): void {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (argv.includes('--help')) {
    console.log('usage: npx tsx src/nlp/redact/evaluate.ts [--cases F.jsonl] [--comments F.csv] [--verbose]');
    return;
  }
  const report = evaluateRedaction(loadCases(arg('--cases') ?? DEFAULT_CASES));
  const commentsPath = arg('--comments') ?? DEFAULT_COMMENTS;
  let speed: Record<string, unknown>;
  if (existsSync(commentsPath)) {
    const comments = loadComments(commentsPath);
    const withFindings = comments.filter((t) => findIdentifyingDetails(t).length > 0).length;
    speed = { source: commentsPath, comments: comments.length, commentsWithFindings: withFindings, ...measureSpeed(comments) };
  } else {
    speed = { skipped: `no comments file at ${commentsPath}` };
  }
  const { failures, ...summary } = report;
  const out = argv.includes('--verbose') ? { ...summary, speed, failures } : { ...summary, speed, failureCount: failures.length };
  console.log(JSON.stringify(out, null, 2));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
