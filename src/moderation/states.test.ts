import { describe, expect, it } from 'vitest';
import { canMove, MODERATION_TRANSITIONS } from './states.ts';

describe('moderation state machine', () => {
  it('lets a pending story be published, rejected or withdrawn', () => {
    expect(canMove('pending', 'published')).toBe(true);
    expect(canMove('pending', 'rejected')).toBe(true);
    expect(canMove('pending', 'withdrawn')).toBe(true);
  });
  it('only withdraws a published story and never revives a rejected or withdrawn one', () => {
    expect(canMove('published', 'withdrawn')).toBe(true);
    expect(canMove('published', 'rejected')).toBe(false);
    expect(canMove('published', 'pending')).toBe(false);
    for (const to of Object.keys(MODERATION_TRANSITIONS) as Array<keyof typeof MODERATION_TRANSITIONS>) {
      expect(canMove('rejected', to)).toBe(false);
      expect(canMove('withdrawn', to)).toBe(false);
    }
  });
});
