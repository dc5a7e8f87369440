import { sql } from 'kysely';
import type { Db, DbHandle } from '../platform/db/index.ts';
import { now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError } from '../platform/errors.ts';
import { queueMail } from '../platform/mail.ts';
import { randomToken, sha256 } from '../platform/auth/tokens.ts';
import { storedOrWaiting, type IntakePayload } from '../stories/intake.ts';

/**
 * The stories told with the address that wait in the intake, acknowledged but not yet checked and
 * stored (moments after telling, or waiting to be tried again). The intake is short, and its
 * payloads are JSON: it is read whole.
 */
async function waitingStories(db: Db, email: string) {
  const rows = await db.selectFrom('story_intake').select(['seq', 'ref', 'payload', 'received_at']).orderBy('seq').execute();
  return rows.map((r) => ({ ...r, story: JSON.parse(r.payload) as IntakePayload })).filter((r) => r.story.email === email);
}

/** A link to see, export or erase one's stories is good for this long. */
export const ACCESS_HOURS = 24;

/**
 * A storyteller asks for their data by email address. If stories were told with it, a link is
 * mailed to that address (so only its owner can use it); the answer is the same either way, so the
 * form does not reveal who has told a story.
 */
export async function requestAccess(handle: DbHandle, email: string, publicUrl: string): Promise<void> {
  const address = email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(address) || address.length > 254) throw new AppError('bad_email', 400, 'Enter an email address like name@example.com', { fields: [{ field: 'email', message: 'Enter an email address like name@example.com' }] });
  // Stored, or still in the intake (read again if it moved between the two reads).
  const any = await storedOrWaiting(
    async () => ((await handle.db.selectFrom('stories').select('id').where('author_email', '=', address).limit(1).executeTakeFirst()) ? true : undefined),
    async () => ((await waitingStories(handle.db, address)).length > 0 ? true : undefined),
  );
  if (!any) return;
  const token = randomToken();
  await handle.db.transaction().execute(async (trx) => {
    await trx.insertInto('author_access').values({ token_hash: sha256(token), email: address, created_at: now(), expires_at: new Date(Date.now() + ACCESS_HOURS * 3_600_000).toISOString() }).execute();
    await queueMail(trx, {
      to: address,
      subject: 'Your stories on Carevoice',
      text: `You asked to see, download or erase the stories you told with this email address.\n\nThis link works for ${ACCESS_HOURS} hours: ${publicUrl}/my-stories/manage?token=${token}\n\nIf you did not ask, ignore this email.\n\nCarevoice`,
    });
  });
}

export async function emailForToken(handle: DbHandle, token: string | undefined): Promise<string> {
  if (!token || token.length > 100) throw new AppError('link_not_valid', 404, 'This link is not valid or has expired. Ask for a new one.');
  const row = await handle.db.selectFrom('author_access').select(['email', 'expires_at']).where('token_hash', '=', sha256(token)).executeTakeFirst();
  if (!row || row.expires_at < now()) throw new AppError('link_not_valid', 404, 'This link is not valid or has expired. Ask for a new one.');
  return row.email;
}

/** Everything told with the address: the stories as written, where they stand, and the answers. */
export async function exportStories(handle: DbHandle, email: string) {
  const db = handle.db;
  // The intake first: the job loop moves stories from it into stories as we read, so one moved
  // between the two reads is then found in both (and kept once, stored), never in neither.
  const inIntake = await waitingStories(db, email);
  const stories = await db.selectFrom('stories').selectAll().where('author_email', '=', email).orderBy('submitted_at').execute();
  const ids = stories.map((s) => s.id);
  const [services, responses, replies] = ids.length
    ? await Promise.all([
        db.selectFrom('story_services').innerJoin('services', 'services.id', 'story_services.service_id').select(['story_services.story_id', 'services.code', 'services.name']).where('story_id', 'in', ids).execute(),
        db.selectFrom('responses').innerJoin('organisations', 'organisations.id', 'responses.org_id').select(['responses.story_id', 'responses.body', 'responses.published_at', 'organisations.name']).where('story_id', 'in', ids).where('moderation', '=', 'published').execute(),
        db.selectFrom('author_replies').select(['story_id', 'body', 'moderation', 'created_at']).where('story_id', 'in', ids).execute(),
      ])
    : [[], [], []];
  // Told but not stored yet: as written, with nothing decided about them.
  const storedRefs = new Set(stories.map((s) => s.ref));
  const waiting = inIntake.filter((w) => !storedRefs.has(w.ref));
  const waitingServiceIds = [...new Set(waiting.flatMap((w) => w.story.services.map((x) => x.id)))];
  const serviceNames = new Map(
    waitingServiceIds.length ? (await db.selectFrom('services').select(['id', 'name']).where('id', 'in', waitingServiceIds).execute()).map((x) => [x.id, x.name]) : [],
  );
  return {
    email,
    exportedAt: now(),
    stories: [
      ...stories.map((s) => ({
        reference: s.ref,
        title: s.original_title,
        story: s.original_body,
        publishedTitle: s.moderation === 'published' ? s.title : null,
        publishedStory: s.moderation === 'published' ? s.body : null,
        pseudonym: s.author_pseudonym,
        role: s.author_role,
        rating: s.rating,
        status: s.moderation,
        progress: s.progress,
        submittedAt: s.submitted_at,
        publishedAt: s.published_at,
        services: services.filter((x) => x.story_id === s.id).map((x) => ({ code: x.code, name: x.name })),
        responses: responses.filter((x) => x.story_id === s.id).map((x) => ({ organisation: x.name, response: x.body, publishedAt: x.published_at })),
        yourReplies: replies.filter((x) => x.story_id === s.id).map((x) => ({ reply: x.body, status: x.moderation, sentAt: x.created_at })),
      })),
      ...waiting.map((w) => ({
        reference: w.ref,
        title: w.story.title,
        story: w.story.body,
        publishedTitle: null,
        publishedStory: null,
        pseudonym: w.story.pseudonym,
        role: w.story.authorRole,
        rating: w.story.rating,
        status: 'received',
        progress: 'unheard',
        submittedAt: w.received_at,
        publishedAt: null,
        services: w.story.services.map((x) => ({ code: x.code, name: serviceNames.get(x.id) ?? x.code })),
        responses: [],
        yourReplies: [],
      })),
    ],
  };
}

/**
 * Erasure: every story told with the address is withdrawn and its words, pseudonym and address
 * removed, with the findings, replies, links, mail and event details that held them. The audit
 * trail keeps one event saying an erasure happened and how many stories it covered, nothing more.
 */
export async function eraseStories(handle: DbHandle, email: string): Promise<number> {
  return handle.db.transaction().execute(async (trx) => {
    // Stories told with the address but not stored yet (waiting their turn, or a retry after a
    // failure) leave the intake: withdrawn before they were ever stored.
    const waiting = (await waitingStories(trx, email)).map((r) => r.seq);
    if (waiting.length) await trx.deleteFrom('story_intake').where('seq', 'in', waiting).execute();
    const stories = await trx.selectFrom('stories').select('id').where('author_email', '=', email).execute();
    const ids = stories.map((s) => s.id);
    if (ids.length) {
      await trx.deleteFrom('story_findings').where('story_id', 'in', ids).execute();
      await trx.deleteFrom('author_links').where('story_id', 'in', ids).execute();
      await trx.updateTable('author_replies').set({ body: '[erased at the author\'s request]' }).where('story_id', 'in', ids).execute();
      await trx.deleteFrom('story_tags').where('story_id', 'in', ids).execute();
      await trx.updateTable('events').set({ data: '{"erased":true}' }).where('subject', 'in', ids).where('type', 'in', ['story.edited', 'story.published']).execute();
      await trx
        .updateTable('stories')
        .set({
          title: '[erased]',
          body: '[This story was withdrawn at its author\'s request.]',
          original_title: '[erased]',
          original_body: '[erased]',
          author_pseudonym: 'Erased',
          author_email: null,
          author_token_hash: null,
          idempotency_key: null,
          themes: '[]',
          moderation: 'withdrawn',
          moderation_reason: 'Withdrawn and erased at the author\'s request',
          updated_at: now(),
        })
        .where('id', 'in', ids)
        .execute();
    }
    await trx.deleteFrom('mail').where(sql<boolean>`lower(to_address) = ${email}`).execute();
    const pattern = `%"to":${JSON.stringify(email)}%`.replace(/[\\_]/g, (c) => `\\${c}`);
    await trx.deleteFrom('jobs').where('kind', '=', 'mail.send').where('status', '!=', 'running').where(sql<boolean>`lower(payload) LIKE ${pattern} ESCAPE '\\'`).execute();
    await trx.deleteFrom('author_access').where('email', '=', email).execute();
    await appendEvent(trx, handle.dialect, { type: 'author.erased', data: { stories: ids.length + waiting.length } });
    return ids.length + waiting.length;
  });
}
