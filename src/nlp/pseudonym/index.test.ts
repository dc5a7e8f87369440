import { describe, expect, it } from 'vitest';
import { checkPseudonym } from './index.ts';

describe('checkPseudonym', () => {
  it.each(['Grateful daughter', 'Leeds patient', 'Anonymous', 'A carer', 'Sarah', 'Ward 7 patient', 'Mum of 3', 'Will Power', 'Patient 2023'])(
    'accepts "%s"',
    (p) => {
      expect(checkPseudonym(p)).toEqual({ ok: true });
    },
  );

  it.each([
    ['x', /at least 2/],
    ['A'.repeat(41), /40 characters/],
    ['jane@example.com', /email/],
    ['John, 54', /age/],
    ['aged 54', /age/],
    ['54yo', /age/],
    ['Dad 45', /age/],
    ['07700900123', /number/],
    ['Sarah Jones', /full name/],
    ['john smith', /full name/],
    ['Mrs Patel', /real name/],
    ['@janedoe', /handle/],
  ])('rejects "%s" with a clear reason', (p, reason) => {
    const r = checkPseudonym(p);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });
});
