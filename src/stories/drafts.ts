import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../platform/db/index.ts';
import { now } from '../platform/db/index.ts';
import { randomToken, sha256 } from '../platform/auth/tokens.ts';

/**
 * "Tell your story" spans several question pages and must work without JavaScript, so what the
 * person has typed so far is kept server-side as a draft, found by a random cookie. The draft id is
 * also the idempotency key of the final submit: pressing "Send" twice makes one story.
 */
export const DRAFT_COOKIE = 'cv_draft';

export interface DraftData {
  services: string[];
  title?: string;
  body?: string;
  tags?: { good: string[]; improve: string[]; felt: string[] };
  rating?: number | null;
  authorRole?: string;
  pseudonym?: string;
  email?: string;
}

export interface Draft {
  id: string;
  data: DraftData;
  storyId: string | null;
}

export async function loadDraft(db: Db, req: FastifyRequest): Promise<Draft | null> {
  const token = req.cookies[DRAFT_COOKIE];
  if (!token) return null;
  const row = await db.selectFrom('story_drafts').selectAll().where('id', '=', sha256(token)).executeTakeFirst();
  return row ? { id: row.id, data: JSON.parse(row.data) as DraftData, storyId: row.story_id } : null;
}

/** The draft, made (with its cookie) when there is none yet, or a fresh one after a story was sent. */
export async function draftFor(db: Db, req: FastifyRequest, reply: FastifyReply, secure: boolean): Promise<Draft> {
  const existing = await loadDraft(db, req);
  if (existing && !existing.storyId) return existing;
  const token = randomToken();
  const id = sha256(token);
  const t = now();
  const data: DraftData = { services: [] };
  await db.insertInto('story_drafts').values({ id, data: JSON.stringify(data), story_id: null, created_at: t, updated_at: t }).execute();
  reply.setCookie(DRAFT_COOKIE, token, { path: '/tell', httpOnly: true, sameSite: 'lax', secure, maxAge: 7 * 86_400 });
  return { id, data, storyId: null };
}

export async function saveDraft(db: Db, draft: Draft): Promise<void> {
  await db.updateTable('story_drafts').set({ data: JSON.stringify(draft.data), updated_at: now() }).where('id', '=', draft.id).where('story_id', 'is', null).execute();
}
