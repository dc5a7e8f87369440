import type { ModerationState } from '../platform/db/schema.ts';

/** Allowed moderation transitions, as a table (PRODUCT.md: pending -> published | rejected | withdrawn). */
export const MODERATION_TRANSITIONS: Record<ModerationState, readonly ModerationState[]> = {
  pending: ['published', 'rejected', 'withdrawn'],
  published: ['withdrawn'],
  rejected: [],
  withdrawn: [],
};

export function canMove(from: ModerationState, to: ModerationState): boolean {
  return MODERATION_TRANSITIONS[from].includes(to);
}
