import { describe, expect, it } from 'vitest';
import { addWorkingDays } from './working-days.ts';

describe('addWorkingDays', () => {
  it('skips weekends', () => {
    // Friday 2026-11-20 10:00 + 1 working day = Monday 23rd; + 5 = Friday 27th.
    const friday = new Date('2026-11-20T10:00:00Z');
    expect(addWorkingDays(friday, 1).toISOString()).toBe('2026-11-23T10:00:00.000Z');
    expect(addWorkingDays(friday, 5).toISOString()).toBe('2026-11-27T10:00:00.000Z');
  });
  it('counts from a weekend to the next working days', () => {
    const saturday = new Date('2026-11-21T09:00:00Z');
    expect(addWorkingDays(saturday, 1).toISOString()).toBe('2026-11-23T09:00:00.000Z');
    expect(addWorkingDays(new Date('2026-11-24T09:00:00Z'), 0).toISOString()).toBe('2026-11-24T09:00:00.000Z');
  });
});
