import { z } from 'zod';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { AppError } from '../platform/errors.ts';
import { MARKUP_MESSAGE, noMarkup, parseInput } from '../platform/http.ts';
import { randomToken, secureRandomBytes, sha256 } from '../platform/auth/tokens.ts';
import { checkPseudonym } from '../nlp/pseudonym/index.ts';
import { admitStory, intakeAppended, RefTaken, storyByIdempotencyKey, type IntakePayload } from './intake.ts';
import { intakeWriterFor } from './intake-writer.ts';
import { AUTHOR_ROLES, CHANNELS, RATINGS, TAG_GROUPS, TAG_GROUP_NAMES, type TagGroup } from './vocabulary.ts';

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
  const bytes = secureRandomBytes(8);
  let ref = 'CV-';
  for (const b of bytes) ref += REF_ALPHABET[b % 32];
  return ref;
}

type ServiceRow = { id: string; org_id: string; code: string };
const serviceCache = new WeakMap<DbHandle, Map<string, { row: ServiceRow; until: number }>>();
const SERVICE_CACHE_MS = 60_000;

/**
 * The services a story names, by code. Services are never deleted and never change their id or
 * organisation, so a service found is remembered for a minute (a lookup was a twentieth of the
 * time of telling a story); a code not found is always looked up again, so a new service can be
 * named at once.
 */
async function servicesByCode(handle: DbHandle, codes: string[]): Promise<ServiceRow[]> {
  let cache = serviceCache.get(handle);
  if (!cache) serviceCache.set(handle, (cache = new Map()));
  const t = Date.now();
  const known = codes.map((c) => cache.get(c)).filter((e) => e !== undefined && e.until > t).map((e) => e!.row);
  if (known.length === codes.length) return known;
  const rows = await handle.db.selectFrom('services').select(['id', 'org_id', 'code']).where('code', 'in', codes).execute();
  if (cache.size > 10_000) cache.clear();
  for (const row of rows) cache.set(row.code, { row, until: t + SERVICE_CACHE_MS });
  return rows;
}

export interface TellResult {
  id: string;
  ref: string;
  moderation: 'pending';
  /** A secret link token for the author (replies, export, erasure); only given when just created. */
  authorToken?: string;
  duplicate: boolean;
}

/**
 * Tells a story: validates it and appends it to the story intake (on SQLite through the intake's
 * writer thread, which commits the stories told at the same moment together; see
 * intake-writer.ts); the story is acknowledged once that commit is durable. Its checks and its storing (see intake.ts) follow in the background,
 * normally within milliseconds. A repeated idempotency key gives back the story already told (a
 * double submit makes one story).
 */
export async function tellStory(
  handle: DbHandle,
  raw: unknown,
  opts: { idempotencyKey?: string; createdBy?: string; channel?: string; publicUrl: string },
): Promise<TellResult> {
  const input = parseInput(StoryInput, raw, 'invalid_story');
  const db = handle.db;
  // A repeated key is found where the story is admitted (the intake's unique index, or admitStory
  // for a story already stored), not looked up before: a first telling costs no extra reads.
  const already = async () => {
    const seen = await storyByIdempotencyKey(db, opts.idempotencyKey!);
    return seen ? { ...seen, moderation: 'pending' as const, duplicate: true } : undefined;
  };

  const pseudonym = input.pseudonym || 'Anonymous';
  const check = input.pseudonym ? checkPseudonym(pseudonym) : { ok: true as const };
  if (!check.ok) throw new AppError('bad_pseudonym', 400, check.reason, { fields: [{ field: 'pseudonym', message: check.reason }] });
  const tags = normaliseTags(input.tags);
  const codes = [...new Set(input.services)];
  const found = await servicesByCode(handle, codes);
  const unknown = codes.filter((c) => !found.some((s) => s.code === c));
  if (unknown.length) throw new AppError('unknown_service', 400, `No service has the code ${unknown.join(', ')}`, { fields: [{ field: 'services', message: `Unknown service ${unknown.join(', ')}` }] });

  const authorToken = input.email ? randomToken() : undefined;
  const id = newId();
  const payload: IntakePayload = {
    title: input.title,
    body: input.body,
    pseudonym,
    authorRole: input.authorRole,
    email: input.email?.toLowerCase() ?? null,
    authorTokenHash: authorToken ? sha256(authorToken) : null,
    rating: input.rating ?? null,
    channel: input.channel ?? opts.channel ?? 'web',
    tags,
    services: codes.map((code) => found.find((s) => s.code === code)!),
    createdBy: opts.createdBy ?? null,
    publicUrl: opts.publicUrl,
  };
  const receivedAt = now();

  // A reference is random; on the rare clash, draw another.
  let ref = newStoryRef();
  for (let attempt = 0; ; attempt++) {
    try {
      const admission = { storyId: id, ref, idempotencyKey: opts.idempotencyKey ?? null, receivedAt, payload };
      const writer = intakeWriterFor(handle);
      await (writer ? writer.admit(admission) : db.transaction().execute((trx) => admitStory(trx, admission)));
      break;
    } catch (err) {
      const message = err instanceof Error ? err.message : '';
      if (opts.idempotencyKey && /idempotency/.test(message)) {
        const seen = await already();
        if (seen) return seen;
      }
      if (attempt < 3 && (err instanceof RefTaken || (/ref/.test(message) && /unique|duplicate/i.test(message)))) {
        ref = newStoryRef();
        continue;
      }
      throw err;
    }
  }
  intakeAppended.emit('story');
  return { id, ref, moderation: 'pending', authorToken, duplicate: false };
}
