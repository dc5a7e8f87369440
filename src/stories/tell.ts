import { z } from 'zod';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError } from '../platform/errors.ts';
import { MARKUP_MESSAGE, noMarkup, parseInput } from '../platform/http.ts';
import { enqueue } from '../platform/jobs.ts';
import { queueMail } from '../platform/mail.ts';
import { randomToken, sha256 } from '../platform/auth/tokens.ts';
import { findIdentifyingDetails, applyRedactions, type Finding } from '../nlp/redact/index.ts';
import { assessSafeguarding } from '../nlp/safeguarding/index.ts';
import { checkPseudonym } from '../nlp/pseudonym/index.ts';
import { AUTHOR_ROLES, CHANNELS, RATINGS, TAG_GROUPS, TAG_GROUP_NAMES, type TagGroup } from './vocabulary.ts';
import { suggestCriticality } from './models.ts';

export const MAX_STORY_LENGTH = 20_000;
export const MAX_SERVICES = 5;


const ratingSchema = z
  .union([z.number().int().min(1).max(5), z.enum(RATINGS.map((r) => r.key) as [string, ...string[]])])
  .transform((v) => (typeof v === 'number' ? v : RATINGS.find((r) => r.key === v)!.value));

const tagsSchema = z.union([
  z.array(z.string().max(60)).max(30),
  z.object({ good: z.array(z.string().max(60)).max(15).optional(), improve: z.array(z.string().max(60)).max(15).optional(), felt: z.array(z.string().max(60)).max(15).optional() }).strict(),
]);

export const StoryInput = z
  .object({
    title: z.string().trim().min(3, 'Enter a title of at least 3 characters').max(120, 'The title must be 120 characters or fewer').refine(noMarkup, MARKUP_MESSAGE),
    body: z
      .string()
      .trim()
      .min(20, 'Tell your story in at least 20 characters')
      .max(MAX_STORY_LENGTH, `Your story must be ${MAX_STORY_LENGTH.toLocaleString('en-GB')} characters or fewer`)
      .refine(noMarkup, MARKUP_MESSAGE),
    services: z.array(z.string().min(1).max(64)).min(1, 'Choose at least one service').max(MAX_SERVICES, `Choose at most ${MAX_SERVICES} services`),
    authorRole: z.enum(AUTHOR_ROLES.map((r) => r.key) as [string, ...string[]], { message: 'Say who you are: patient, carer, relative, staff or other' }),
    pseudonym: z.string().trim().max(40).optional(),
    email: z.string().trim().max(254).email('Enter an email address like name@example.com').optional().or(z.literal('').transform(() => undefined)),
    tags: tagsSchema.optional(),
    rating: ratingSchema.optional().nullable(),
    channel: z.enum(CHANNELS).optional(),
  })
  .strict();
export type StoryInputType = z.input<typeof StoryInput>;

/** Puts tags into their groups; a tag not in the vocabulary is a 400. */
export function normaliseTags(tags: z.infer<typeof tagsSchema> | undefined): Array<{ group: TagGroup; tag: string }> {
  if (!tags) return [];
  const out: Array<{ group: TagGroup; tag: string }> = [];
  const find = (group: TagGroup, tag: string) => (TAG_GROUPS[group].tags as readonly string[]).find((t) => t.toLowerCase() === tag.trim().toLowerCase());
  if (Array.isArray(tags)) {
    for (const t of tags) {
      const group = TAG_GROUP_NAMES.find((g) => find(g, t));
      if (!group) throw new AppError('unknown_tag', 400, `"${t}" is not one of the tags`, { fields: [{ field: 'tags', message: `"${t}" is not one of the tags` }] });
      out.push({ group, tag: find(group, t)! });
    }
  } else {
    for (const group of TAG_GROUP_NAMES) {
      for (const t of tags[group] ?? []) {
        const tag = find(group, t);
        if (!tag) throw new AppError('unknown_tag', 400, `"${t}" is not one of the tags for ${TAG_GROUPS[group].label.toLowerCase()}`, { fields: [{ field: `tags.${group}`, message: `"${t}" is not one of the tags` }] });
        out.push({ group, tag });
      }
    }
  }
  const seen = new Set<string>();
  return out.filter((t) => (seen.has(`${t.group}:${t.tag}`) ? false : (seen.add(`${t.group}:${t.tag}`), true)));
}

/** A title from a comment's first sentence, as people write them (FFT imports and the demo). */
export function titleFrom(text: string): string {
  const first = text.split(/(?<=[.!?])\s+/)[0]!.replace(/[.!?]+$/, '').trim();
  if (first.length <= 70) return first.charAt(0).toUpperCase() + first.slice(1);
  const cut = first.slice(0, 70);
  return `${cut.slice(0, cut.lastIndexOf(' ')).replace(/[,;:-]+$/, '')}…`;
}

const REF_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export function newStoryRef(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return `CV-${[...bytes].map((b) => REF_ALPHABET[b % 32]).join('')}`;
}

export interface TellResult {
  id: string;
  ref: string;
  moderation: 'pending';
  urgent: boolean;
  /** A secret link token for the author (replies, export, erasure); only given when just created. */
  authorToken?: string;
  duplicate: boolean;
}

/**
 * Tells a story: checks it, finds identifying details and safeguarding risks, suggests a
 * criticality, and stores it as pending, all in one transaction with its event and jobs. A
 * repeated idempotency key gives back the story already made (a double submit makes one story).
 */
export async function tellStory(
  handle: DbHandle,
  raw: unknown,
  opts: { idempotencyKey?: string; createdBy?: string; channel?: string; publicUrl: string },
): Promise<TellResult> {
  const input = parseInput(StoryInput, raw, 'invalid_story');
  const db = handle.db;

  if (opts.idempotencyKey) {
    const seen = await db.selectFrom('stories').select(['id', 'ref', 'urgent']).where('idempotency_key', '=', opts.idempotencyKey).executeTakeFirst();
    if (seen) return { id: seen.id, ref: seen.ref, moderation: 'pending', urgent: seen.urgent === 1, duplicate: true };
  }

  const pseudonym = input.pseudonym || 'Anonymous';
  const check = checkPseudonym(pseudonym);
  if (!check.ok) throw new AppError('bad_pseudonym', 400, check.reason, { fields: [{ field: 'pseudonym', message: check.reason }] });
  const tags = normaliseTags(input.tags);
  const codes = [...new Set(input.services)];
  const services = await db.selectFrom('services').select(['id', 'org_id', 'code']).where('code', 'in', codes).execute();
  const unknown = codes.filter((c) => !services.some((s) => s.code === c));
  if (unknown.length) throw new AppError('unknown_service', 400, `No service has the code ${unknown.join(', ')}`, { fields: [{ field: 'services', message: `Unknown service ${unknown.join(', ')}` }] });

  const titleFindings = findIdentifyingDetails(input.title);
  const bodyFindings = findIdentifyingDetails(input.body);
  const safeguarding = assessSafeguarding(`${input.title}\n${input.body}`);
  const rating = input.rating ?? null;
  const suggested = suggestCriticality(`${input.title}. ${input.body}`, { urgent: safeguarding.urgent, rating });
  const channel = input.channel ?? opts.channel ?? 'web';
  const authorToken = input.email ? randomToken() : undefined;
  const id = newId();
  const t = now();

  const insertStory = async (ref: string) =>
    db.transaction().execute(async (trx) => {
      await trx
        .insertInto('stories')
        .values({
          id,
          ref,
          title: applyRedactions(input.title, titleFindings),
          body: applyRedactions(input.body, bodyFindings),
          original_title: input.title,
          original_body: input.body,
          author_pseudonym: pseudonym,
          author_role: input.authorRole,
          author_email: input.email?.toLowerCase() ?? null,
          author_token_hash: authorToken ? sha256(authorToken) : null,
          rating,
          channel,
          moderation: 'pending',
          moderation_reason: null,
          urgent: safeguarding.urgent ? 1 : 0,
          safeguarding: JSON.stringify(safeguarding.reasons),
          suggested_criticality: suggested,
          criticality: null,
          progress: 'unheard',
          experienced_count: 0,
          sentiment: null,
          themes: '[]',
          topics: '[]',
          idempotency_key: opts.idempotencyKey ?? null,
          created_by: opts.createdBy ?? null,
          submitted_at: t,
          publish_at: null,
          published_at: null,
          decided_at: null,
          updated_at: t,
        })
        .execute();
      await trx
        .insertInto('story_services')
        .values(codes.map((code, position) => {
          const s = services.find((x) => x.code === code)!;
          return { story_id: id, service_id: s.id, org_id: s.org_id, position };
        }))
        .execute();
      if (tags.length) await trx.insertInto('story_tags').values(tags.map((x) => ({ story_id: id, tag_group: x.group, tag: x.tag }))).execute();
      const findings = [...titleFindings.map((f) => ['title', f] as const), ...bodyFindings.map((f) => ['body', f] as const)];
      if (findings.length) {
        await trx
          .insertInto('story_findings')
          .values(findings.map(([field, f]: readonly ['title' | 'body', Finding]) => ({ id: newId(), story_id: id, field, type: f.type, start: f.start, end: f.end, text: f.text, replacement: f.replacement, accepted: 1 })))
          .execute();
      }
      await appendEvent(trx, handle.dialect, {
        type: 'story.submitted',
        subject: id,
        actorId: opts.createdBy ?? null,
        data: { ref, channel, services: codes, urgent: safeguarding.urgent, findings: findings.length },
      });
      await enqueue(trx, { kind: 'story.classify', payload: { storyId: id }, dedupeKey: `classify:${id}` });
      if (safeguarding.urgent) {
        await appendEvent(trx, handle.dialect, { type: 'story.urgent', subject: id, data: { ref, reasons: safeguarding.reasons } });
        await enqueue(trx, { kind: 'moderation.urgent_alert', payload: { storyId: id }, dedupeKey: `urgent:${id}` });
      }
      if (input.email) {
        await queueMail(
          trx,
          {
            to: input.email.toLowerCase(),
            subject: `We have your story (${ref})`,
            text: `Thank you for telling your story "${input.title}".\n\nYour reference is ${ref}. A moderator checks every story before it is published, removing anything that could identify you or anyone else. We will email you when it is published.\n\nCarevoice\n${opts.publicUrl}`,
          },
          `received:${id}`,
        );
      }
    });

  // A reference is random; on the rare clash, draw another.
  let ref = newStoryRef();
  for (let attempt = 0; ; attempt++) {
    try {
      await insertStory(ref);
      break;
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      if (opts.idempotencyKey && /idempotency_key/.test(message)) {
        const seen = await db.selectFrom('stories').select(['id', 'ref', 'urgent']).where('idempotency_key', '=', opts.idempotencyKey).executeTakeFirstOrThrow();
        return { id: seen.id, ref: seen.ref, moderation: 'pending', urgent: seen.urgent === 1, duplicate: true };
      }
      if (attempt < 3 && /ref/.test(message) && /unique|duplicate/i.test(message)) {
        ref = newStoryRef();
        continue;
      }
      throw err;
    }
  }
  return { id, ref, moderation: 'pending', urgent: safeguarding.urgent, authorToken, duplicate: false };
}
