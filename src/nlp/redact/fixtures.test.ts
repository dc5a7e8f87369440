import { describe, expect, it } from 'vitest';
import { evaluateRedaction, loadCases } from './evaluate.ts';
import type { RedactionCase } from './evaluate.ts';

describe('redaction fixture set (test/fixtures/redaction/cases.jsonl)', () => {
  const cases = loadCases();
  const report = evaluateRedaction(cases);
  const failures = (kind: string): string[] => report.failures.filter((f) => f.kind === kind).map((f) => `${f.id}: ${f.detail}`);

  it('is large and varied enough to mean something', () => {
    expect(cases.length).toBeGreaterThanOrEqual(300);
    expect(cases.filter((c) => c.expect.length === 0).length).toBeGreaterThanOrEqual(100);
    for (const t of ['nhs_number', 'phone', 'email', 'postcode', 'date_of_birth', 'date', 'time', 'address', 'name'] as const) {
      expect(report.perType[t]?.expected ?? 0, t).toBeGreaterThanOrEqual(10);
    }
  });
  it('finds every NHS number, phone number, email, postcode and date of birth', () => {
    const missed = failures('missed').filter((d) => /(nhs_number|phone|email|postcode|date_of_birth) "/.test(d));
    expect(missed).toEqual([]);
    for (const t of ['nhs_number', 'phone', 'email', 'postcode', 'date_of_birth'] as const) expect(report.perType[t]?.recall, t).toBe(1);
  });
  it('finds at least 95% of names and addresses', () => {
    expect(report.namesAndAddressesRecall).toBeGreaterThanOrEqual(0.95);
    expect(report.perType.name?.recall ?? 0).toBeGreaterThanOrEqual(0.95);
    expect(report.perType.address?.recall ?? 0).toBeGreaterThanOrEqual(0.95);
  });
  it('keeps at least 98% of ordinary care words', () => {
    expect(report.careWords.keepRate, failures('removed_care_word').join('\n')).toBeGreaterThanOrEqual(0.98);
  });
  it('leaves every clean story unchanged', () => {
    expect(failures('changed_clean')).toEqual([]);
    expect(report.clean.unchangedRate).toBe(1);
  });
  it('would notice a redactor that misses things (the scorer can fail)', () => {
    const broken: RedactionCase[] = [{ id: 'x', text: 'Call Bob on 07700 900123', expect: [{ type: 'phone', text: '0770 900123' }], keep: [] }];
    expect(() => evaluateRedaction(broken)).toThrow(/not in the story/);
    const r = evaluateRedaction([{ id: 'y', text: 'my number is not here', expect: [{ type: 'phone', text: 'number' }], keep: ['my'] }]);
    expect(r.perType.phone?.recall).toBe(0);
  });
});
