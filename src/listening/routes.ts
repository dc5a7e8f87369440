import crypto from 'node:crypto';
import path from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, forbidden, notFound, unauthorised } from '../platform/errors.ts';
import { errorFields, MARKUP_MESSAGE, noMarkup, parseInput } from '../platform/http.ts';
import { can, orgsWhere, type Actor } from '../platform/auth/policy.ts';
import { appendEvent } from '../platform/events.ts';
import { now } from '../platform/db/index.ts';
import { secretsKey } from '../platform/secrets.ts';
import { SRC_DIR } from '../platform/views.ts';
import { requireStaffPage } from '../people/routes.ts';
import { themeLabels } from '../stories/models.ts';
import { tellStory } from '../stories/tell.ts';
import { storyIn } from '../stories/read.ts';
import { addChannel, CHANNEL_KINDS, listChannels, openSecret, removeChannel } from './channels.ts';
import { getMention, hashtagsIn, ingestMention, listMentions, removeMention, safeUrl } from './mentions.ts';
import { LIVE_TYPES, LiveFeed, passes, toMessages, type LiveFilter } from './live.ts';
import { getHotspot, hotspotEvidence, recentHotspots, sharedWords } from './hotspots.ts';
import { praiseSince, recentPraise } from './praise.ts';
import { band, SENTIMENT_WORDS } from './sentiment.ts';

const LiveQuery = z
  .object({
    org: z.string().trim().max(20).optional(),
    service: z.string().trim().max(40).optional(),
    theme: z.string().trim().max(120).optional(),
    sentiment: z.enum(['', 'positive', 'neutral', 'negative']).optional(),
    lastEventId: z.string().regex(/^\d{1,15}$/, 'lastEventId must be an event id').optional(),
  })
  .strict();

const IdParam = z.object({ id: z.string().uuid('not an id this server gave out') });
const CodeParam = z.object({ code: z.string().min(1).max(64) });

/** Organisations whose live wall the actor may watch: where they are leader, responder or admin (platform admins: all). */
async function watchableOrgs(ctx: AppContext, actor: Actor): Promise<string[]> {
  if (actor.platformRole === 'admin') return (await ctx.handle.db.selectFrom('organisations').select('id').execute()).map((o) => o.id);
  return orgsWhere(actor, ['leader', 'responder', 'admin']);
}

/** Builds the filter a live connection or the wall page uses, refusing unknown services and organisations. */
async function liveFilter(ctx: AppContext, actor: Actor, q: z.infer<typeof LiveQuery>): Promise<LiveFilter> {
  const db = ctx.handle.db;
  let orgIds = await watchableOrgs(ctx, actor);
  if (q.org) {
    const org = await db.selectFrom('organisations').select('id').where('ods_code', '=', q.org.toUpperCase()).executeTakeFirst();
    if (!org) throw new AppError('unknown_organisation', 404, `No organisation has the code ${q.org}`);
    if (!orgIds.includes(org.id)) throw forbidden('You do not watch that organisation.');
    orgIds = [org.id];
  }
  const filter: LiveFilter = { orgIds: new Set(orgIds) };
  if (q.service) {
    const svc = await db.selectFrom('services').select(['path', 'org_id']).where('code', '=', q.service.toUpperCase()).executeTakeFirst();
    if (!svc) throw new AppError('unknown_service', 404, `No service has the code ${q.service}`);
    if (!filter.orgIds.has(svc.org_id)) throw forbidden('That service is not in an organisation you watch.');
    filter.servicePath = svc.path;
  }
  if (q.theme) {
    if (!themeLabels().includes(q.theme)) throw new AppError('unknown_theme', 400, `No theme is called ${q.theme}`);
    filter.theme = q.theme;
  }
  if (q.sentiment) filter.sentiment = q.sentiment;
  return filter;
}

const ReplyForm = z.object({ _csrf: z.string().optional(), reply: z.string().trim().min(2, 'Write your reply').max(2000, 'Keep the reply under 2,000 characters').refine(noMarkup, MARKUP_MESSAGE) }).strict();
const ToStoryForm = z
  .object({
    _csrf: z.string().optional(),
    title: z.string().trim().min(3, 'Give the story a title').max(200).refine(noMarkup, MARKUP_MESSAGE),
    consent: z.literal('yes', { error: 'Confirm that the author agreed to share their post as a story' }),
    consentNote: z.string().trim().min(5, 'Say how and when the author agreed').max(500).refine(noMarkup, MARKUP_MESSAGE),
    service: z.string().trim().min(1, 'Choose the service').max(40),
  })
  .strict();

const WebhookBody = z
  .object({
    id: z.string().trim().min(1).max(200),
    deleted: z.literal(true).optional(),
    text: z.string().max(10_000).optional(),
    author: z.string().trim().max(200).optional(),
    url: z
      .string()
      .max(500)
      .refine((v) => safeUrl(v) !== null, 'url must be an http:// or https:// address')
      .optional(),
    postedAt: z.string().datetime({ offset: true }).optional(),
    tags: z.array(z.string().max(100)).max(50).optional(),
  })
  .strict();

export function listeningRoutes(ctx: AppContext) {
  const db = ctx.handle.db;
  const feed = new LiveFeed(ctx.handle, ctx.log.child({ part: 'live' }));
  let clientScript: Promise<string> | undefined;

  const mentionFor = async (actor: Actor, id: string) => {
    const m = await getMention(ctx.handle, id);
    if (!m) throw notFound('mention');
    if (!can(actor, 'read-inbox', { orgIds: [m.orgId] })) throw forbidden('This mention is about another organisation.');
    return m;
  };

  return async function (app: FastifyInstance) {
    ctx.liveFeed = feed;
    app.addHook('onReady', async () => feed.start());
    // Streams never finish by themselves: end them first, so closing the server does not wait.
    app.addHook('preClose', async () => feed.stop());

    app.get('/api/v1/live', async (req, reply) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'watch-live', { orgIds: [...req.actor.orgRoles.keys()] })) throw forbidden('The live wall is for leaders, responders and admins of an organisation.');
      const q = parseInput(LiveQuery, req.query, 'bad_query');
      const filter = await liveFilter(ctx, req.actor, q);
      const header = req.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : null;
      const lastEventId = fromHeader ?? (q.lastEventId ? Number(q.lastEventId) : null);
      reply.hijack();
      // The security headers the app set on the reply go on the stream, which is written raw.
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      try {
        await feed.attach(reply.raw, filter, lastEventId);
      } catch (err) {
        // The stream has begun, so no error page can follow: close it, and the client's
        // EventSource reconnects with its Last-Event-ID once the database answers again.
        req.log.warn({ err: (err as Error).message }, 'live: could not replay; closing the stream');
        reply.raw.destroy();
      }
    });

    app.get('/api/v1/mentions', async (req) => {
      if (!req.actor) throw unauthorised();
      if (!can(req.actor, 'read-inbox', { orgIds: [...req.actor.orgRoles.keys()] })) throw forbidden('Mentions are for staff of an organisation.');
      return listMentions(ctx.handle, orgsWhere(req.actor, ['leader', 'responder', 'admin']), req.query);
    });

    // A signed webhook for any other source: HMAC-SHA256 of `<timestamp>.<raw body>` with the
    // channel's key, in `X-Carevoice-Signature: sha256=<hex>`, and the time in `X-Carevoice-Timestamp`
    // (seconds; five minutes' leeway), so a captured request cannot be replayed later.
    await app.register(async (hook) => {
      hook.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 65_536 }, (_req, body, done) => done(null, body));
      hook.post('/api/v1/channels/:id/webhook', async (req, reply) => {
        const { id } = parseInput(IdParam, req.params, 'bad_channel');
        const channel = await db.selectFrom('channels').selectAll().where('id', '=', id).where('kind', '=', 'webhook').executeTakeFirst();
        if (!channel) throw notFound('channel');
        const raw = typeof req.body === 'string' ? req.body : '';
        verifySignature(req, raw, openSecret(secretsKey(ctx.config), channel));
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw new AppError('invalid_json', 400, 'The body is not valid JSON.');
        }
        const body = parseInput(WebhookBody, parsed, 'invalid_mention');
        if (body.deleted) {
          await removeMention(ctx.handle, 'webhook', body.id, channel.org_id);
          return reply.code(200).send({ id: body.id, deleted: true });
        }
        if (!body.text?.trim()) throw new AppError('invalid_mention', 400, 'A post needs its text (or "deleted": true).');
        const result = await ingestMention(
          ctx.handle,
          {
            source: 'webhook',
            externalId: body.id,
            url: body.url ?? null,
            author: body.author ?? 'unknown',
            text: body.text,
            tags: [...(body.tags ?? []), ...hashtagsIn(body.text)],
            postedAt: body.postedAt ? new Date(body.postedAt).toISOString() : now(),
          },
          { orgId: channel.org_id, channelId: channel.id },
        );
        return reply.code(result.outcome === 'created' ? 201 : 200).send(result);
      });
    });

    app.get('/staff/live.js', async (_req, reply) => {
      clientScript ??= bundleClient();
      return reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=300').send(await clientScript);
    });

    app.get('/staff/live', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const actor = req.actor!;
      if (!can(actor, 'watch-live', { orgIds: [...actor.orgRoles.keys()] })) throw new AppError('forbidden', 403, 'The live wall is for leaders, responders and admins of an organisation.');
      const q = parseInput(LiveQuery, req.query, 'bad_query');
      const filter = await liveFilter(ctx, actor, q);
      const orgIds = [...filter.orgIds];
      const data = await wallData(ctx, orgIds, filter);
      const services = await db.selectFrom('services').select(['code', 'name', 'depth']).where('org_id', 'in', orgIds.length ? orgIds : ['']).orderBy('path').execute();
      const streamQuery = new URLSearchParams(Object.entries({ org: q.org ?? '', service: q.service ?? '', theme: q.theme ?? '', sentiment: q.sentiment ?? '', lastEventId: String(data.position) }).filter(([, v]) => v !== ''));
      return reply.page('listening/views/live.njk', {
        title: 'Live wall',
        values: q,
        services,
        themes: themeLabels(),
        streamUrl: `/api/v1/live?${streamQuery}`,
        ...data,
        breadcrumbs: [{ href: '/staff', text: 'Staff home' }],
      });
    });

    app.get('/staff/mentions', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const actor = req.actor!;
      if (!can(actor, 'read-inbox', { orgIds: [...actor.orgRoles.keys()] })) throw new AppError('forbidden', 403, 'Mentions are for staff of an organisation.');
      const page = await listMentions(ctx.handle, orgsWhere(actor, ['leader', 'responder', 'admin']), req.query);
      return reply.page('listening/views/mentions.njk', { title: 'Social media mentions', page, words: SENTIMENT_WORDS, values: req.query, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });

    app.get('/staff/mentions/:id', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params, 'bad_mention');
      const m = await mentionFor(req.actor!, id);
      return reply.page('listening/views/mention.njk', { title: 'Mention', m, words: SENTIMENT_WORDS, canRespond: can(req.actor, 'respond', { orgIds: [m.orgId] }), values: {}, breadcrumbs: [{ href: '/staff/mentions', text: 'Mentions' }] });
    });

    app.post('/staff/mentions/:id/reply', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params, 'bad_mention');
      const m = await mentionFor(req.actor!, id);
      if (!can(req.actor, 'respond', { orgIds: [m.orgId] })) throw forbidden('Only responders can reply to mentions.');
      const form = readForm(ReplyForm, req.body, 'invalid_reply');
      if (!form.success) {
        return reply.page('listening/views/mention.njk', { title: 'Mention', m, words: SENTIMENT_WORDS, canRespond: true, values: req.body ?? {}, errors: form.errors }, 400);
      }
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('mentions').set({ reply: form.data.reply, replied_by: req.actor!.userId, replied_at: now() }).where('id', '=', id).execute();
        await appendEvent(trx, ctx.handle.dialect, { type: 'mention.replied', orgId: m.orgId, subject: id, actorId: req.actor!.userId, data: { length: form.data.reply.length } });
      });
      return reply.redirect(`/staff/mentions/${id}#replies`, 303);
    });

    app.post('/staff/mentions/:id/story', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params, 'bad_mention');
      const m = await mentionFor(req.actor!, id);
      if (!can(req.actor, 'take-story-by-hand', { orgIds: [m.orgId] })) throw forbidden('Only responders and admins can turn a mention into a story.');
      if (m.storyId) throw new AppError('already_a_story', 409, 'This mention is already a story.');
      const form = readForm(ToStoryForm, req.body, 'invalid_story');
      if (!form.success) {
        return reply.page('listening/views/mention.njk', { title: 'Mention', m, words: SENTIMENT_WORDS, canRespond: can(req.actor, 'respond', { orgIds: [m.orgId] }), values: req.body ?? {}, errors: form.errors }, 400);
      }
      if (!m.services.some((s) => s.code === form.data.service)) throw new AppError('bad_service', 400, 'Choose one of the services the post is about.');
      // The story goes through moderation like any other; its origin and the consent are recorded.
      const told = await tellStory(
        ctx.handle,
        { title: form.data.title, body: m.text, services: [form.data.service], authorRole: 'patient', pseudonym: m.author.replace(/^@/, '').split('@')[0]!.slice(0, 40) || 'Anonymous', channel: 'social' },
        { createdBy: req.actor!.userId, publicUrl: ctx.config.publicUrl, idempotencyKey: `mention:${m.id}` },
      );
      await db.transaction().execute(async (trx) => {
        await trx.updateTable('mentions').set({ story_id: told.id }).where('id', '=', id).execute();
        await appendEvent(trx, ctx.handle.dialect, { type: 'mention.story_created', orgId: m.orgId, subject: id, actorId: req.actor!.userId, data: { story: told.id, consent: form.data.consentNote } });
      });
      return reply.redirect(`/staff/mentions/${id}#story`, 303);
    });

    app.get('/staff/hotspots', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const orgs = await watchableOrgs(ctx, req.actor!);
      if (!orgs.length) throw new AppError('forbidden', 403, 'Hotspots are for staff of an organisation.');
      const hotspots = await recentHotspots(ctx.handle, orgs, { days: 90, limit: 100 });
      return reply.page('listening/views/hotspots.njk', { title: 'Hotspots', hotspots, breadcrumbs: [{ href: '/staff', text: 'Staff home' }] });
    });

    app.get('/staff/hotspots/:id', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const { id } = parseInput(IdParam, req.params, 'bad_hotspot');
      const orgs = await watchableOrgs(ctx, req.actor!);
      const h = await getHotspot(ctx.handle, orgs, id);
      if (!h) throw notFound('hotspot');
      const evidence = await hotspotEvidence(ctx.handle, id);
      await db.updateTable('hotspot_notifications').set({ read_at: now() }).where('hotspot_id', '=', id).where('user_id', '=', req.actor!.userId).where('read_at', 'is', null).execute();
      return reply.page('listening/views/hotspot.njk', { title: h.title, h, evidence, words: sharedWords(evidence.map((e) => e.text)), breadcrumbs: [{ href: '/staff/hotspots', text: 'Hotspots' }] });
    });

    // Channels, for an organisation's admins.
    const adminOrg = async (req: FastifyRequest) => {
      const { code } = parseInput(CodeParam, req.params);
      const org = await db.selectFrom('organisations').select(['id', 'ods_code', 'name']).where('ods_code', '=', code.toUpperCase()).executeTakeFirst();
      if (!org) throw notFound(`organisation ${code}`, 'organisation_not_found');
      if (!can(req.actor, 'manage-organisation', { orgIds: [org.id] })) throw new AppError('forbidden', 403, 'Only admins of this organisation can manage its channels.');
      return org;
    };
    const channelsPage = async (org: { id: string; ods_code: string; name: string }, extra: Record<string, unknown> = {}) => ({
      title: `${org.name}: social media channels`,
      org,
      channels: await listChannels(ctx.handle, org.id),
      kinds: CHANNEL_KINDS,
      publicUrl: ctx.config.publicUrl,
      values: {},
      breadcrumbs: [{ href: `/staff/organisations/${encodeURIComponent(org.ods_code)}`, text: 'Settings' }],
      ...extra,
    });

    app.get('/staff/organisations/:code/channels', async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const org = await adminOrg(req);
      return reply.page('listening/views/channels.njk', await channelsPage(org));
    });

    app.post('/staff/organisations/:code/channels', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const org = await adminOrg(req);
      const { _csrf: _ignored, ...fields } = (req.body ?? {}) as Record<string, unknown>;
      // One form serves every network: keep only the fields the chosen one takes.
      const wanted: Record<string, string[]> = { mastodon: ['instance', 'token', 'tags'], bluesky: ['endpoint', 'tags'], x: ['apiBase', 'token', 'tags'], webhook: [] };
      const kind = typeof fields.kind === 'string' ? fields.kind : '';
      const input = Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== '' && (k === 'kind' || k === 'name' || (wanted[kind] ?? Object.keys(fields)).includes(k))));
      try {
        const added = await addChannel(ctx.handle, secretsKey(ctx.config), org.ods_code, input, req.actor!.userId);
        return reply.page('listening/views/channels.njk', await channelsPage(org, { added }));
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        const fieldsErr = (err.details as { fields?: Array<{ field: string; message: string }> } | undefined)?.fields ?? [{ field: 'kind', message: err.message }];
        return reply.page('listening/views/channels.njk', await channelsPage(org, { values: fields, errors: fieldsErr.map((f) => ({ text: f.message, href: `#${f.field}` })) }), 400);
      }
    });

    app.post('/staff/organisations/:code/channels/:id/remove', { preHandler: app.csrfProtection }, async (req, reply) => {
      const stop = requireStaffPage(req, reply);
      if (stop) return stop;
      const org = await adminOrg(req);
      const { id } = parseInput(z.object({ code: z.string(), id: z.string().uuid() }), req.params, 'bad_channel');
      await removeChannel(ctx.handle, org.id, id, req.actor!.userId);
      return reply.redirect(`/staff/organisations/${encodeURIComponent(org.ods_code)}/channels`, 303);
    });
  };
}

/** A form's fields, or the errors to show beside them (the NHS error summary links to each field). */
function readForm<T extends z.ZodType>(schema: T, body: unknown, code: string): { success: true; data: z.infer<T> } | { success: false; errors: Array<{ text: string; href: string }> } {
  try {
    return { success: true, data: parseInput(schema, body ?? {}, code) };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { success: false, errors: errorFields(err).map((f) => ({ text: f.message, href: `#${f.field}` })) };
  }
}

function verifySignature(req: FastifyRequest, raw: string, secret: string): void {
  const sig = req.headers['x-carevoice-signature'];
  const ts = req.headers['x-carevoice-timestamp'];
  if (typeof sig !== 'string' || typeof ts !== 'string') throw new AppError('unsigned', 401, 'Sign the request: X-Carevoice-Timestamp and X-Carevoice-Signature: sha256=<hex HMAC of "<timestamp>.<body>">.');
  const seconds = Number(ts);
  if (!Number.isInteger(seconds) || Math.abs(Date.now() / 1000 - seconds) > 300) throw new AppError('stale_signature', 401, 'X-Carevoice-Timestamp is not within five minutes of now.');
  const expected = crypto.createHmac('sha256', secret).update(`${ts}.${raw}`).digest();
  const given = Buffer.from(sig.replace(/^sha256=/, ''), 'hex');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) throw new AppError('bad_signature', 401, 'The signature does not match the body.');
}

/** What the wall shows when it is drawn: tiles and the latest items, and the event position it reflects. */
async function wallData(ctx: AppContext, orgIds: string[], filter: LiveFilter) {
  const db = ctx.handle.db;
  const none = orgIds.length ? orgIds : [''];
  const midnight = new Date();
  midnight.setUTCHours(0, 0, 0, 0);
  const since12h = new Date(Date.now() - 11 * 3_600_000);
  since12h.setUTCMinutes(0, 0, 0);
  const [storiesToday, mentionsToday, recentStories, recentMentions, latest, hotspots, praise, position] = await Promise.all([
    db.selectFrom('stories').select((eb) => eb.fn.countAll<number>().as('n')).where('moderation', '=', 'published').where('published_at', '>=', midnight.toISOString()).where(storyIn({ orgIds })).executeTakeFirst(),
    db.selectFrom('mentions').select((eb) => eb.fn.countAll<number>().as('n')).where('org_id', 'in', none).where('deleted_at', 'is', null).where('received_at', '>=', midnight.toISOString()).executeTakeFirst(),
    db.selectFrom('stories').select(['published_at as at', 'sentiment']).where('moderation', '=', 'published').where('published_at', '>=', since12h.toISOString()).where(storyIn({ orgIds })).execute(),
    db.selectFrom('mentions').select(['received_at as at', 'sentiment']).where('org_id', 'in', none).where('deleted_at', 'is', null).where('received_at', '>=', since12h.toISOString()).execute(),
    db.selectFrom('events').selectAll().where('org_id', 'in', none).where('type', 'in', [...LIVE_TYPES]).orderBy('id', 'desc').limit(200).execute(),
    recentHotspots(ctx.handle, orgIds, { days: 7, limit: 6 }),
    recentPraise(ctx.handle, orgIds, { since: praiseSince(7), limit: 6 }),
    db.selectFrom('events').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst(),
  ]);
  const events = latest.reverse().map((r) => ({ id: r.id, type: r.type, orgId: r.org_id, subject: r.subject, actorId: r.actor_id, data: JSON.parse(r.data) as Record<string, unknown>, createdAt: r.created_at }));
  const messages = (await toMessages(ctx.handle, events)).filter((m) => m.item && passes(m, filter)).reverse();
  // Only the newest card for an item (an edited mention appears once).
  const seen = new Set<string>();
  const items = messages.filter((m) => (seen.has(`${m.item!.kind}:${m.item!.id}:${m.type}`) ? false : (seen.add(`${m.item!.kind}:${m.item!.id}:${m.type}`), true))).slice(0, 40);
  const hoursList = Array.from({ length: 12 }, (_, i) => new Date(since12h.getTime() + i * 3_600_000));
  const sentimentByHour = hoursList.map((h) => {
    const end = h.getTime() + 3_600_000;
    const inHour = [...recentStories, ...recentMentions].filter((x) => x.at && Date.parse(x.at) >= h.getTime() && Date.parse(x.at) < end);
    return {
      hour: h.toISOString(),
      label: h.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', timeZone: 'Europe/London' }),
      positive: inHour.filter((x) => band(x.sentiment) === 'positive').length,
      neutral: inHour.filter((x) => band(x.sentiment) === 'neutral').length,
      negative: inHour.filter((x) => band(x.sentiment) === 'negative').length,
    };
  });
  const peak = Math.max(1, ...sentimentByHour.map((h) => h.positive + h.neutral + h.negative));
  return {
    today: Number(storiesToday?.n ?? 0) + Number(mentionsToday?.n ?? 0),
    sentimentByHour,
    peak,
    hotspots,
    praise,
    items: items.map((m) => ({ ...m.item!, eventId: m.id, type: m.type })),
    position: Number(position?.max ?? 0),
  };
}

/** The wall's script, bundled once per process from TypeScript with esbuild (no build step to forget). */
async function bundleClient(): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [path.join(SRC_DIR, 'listening', 'live-wall.client.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2020',
    minify: true,
    legalComments: 'none',
  });
  return result.outputFiles[0]!.text;
}
