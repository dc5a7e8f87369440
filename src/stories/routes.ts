import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppContext } from '../platform/context.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { toldStory } from './intake.ts';
import { errorFields, parseInput } from '../platform/http.ts';
import { randomToken } from '../platform/auth/tokens.ts';
import { presentServices, searchServices } from '../directory/directory.ts';
import { checkPseudonym } from '../nlp/pseudonym/index.ts';
import { draftFor, loadDraft, saveDraft, type Draft } from './drafts.ts';
import { StoryInput, tellStory, MAX_SERVICES } from './tell.ts';
import { AUTHOR_ROLES, PROGRESS_STEPS, RATINGS, TAG_GROUPS, TAG_GROUP_NAMES } from './vocabulary.ts';
import { getPublished, listPublished, markExperienced } from './read.ts';
import { themeLabels } from './models.ts';
import { can } from '../platform/auth/policy.ts';

type Errors = Array<{ text: string; href: string }>;
const shape = StoryInput.shape;
const asList = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' && v ? [v] : []);
const field = (body: unknown, name: string): string => {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};
const firstIssue = (r: { success: boolean; error?: { issues: Array<{ message: string }> } }) => (r.success ? undefined : r.error!.issues[0]!.message);

const SearchQuery = z.object({ q: z.string().max(100).optional(), service: z.string().max(64).optional() }).passthrough();
const StoriesQuery = z.object({
  q: z.string().max(200).optional(),
  service: z.string().max(64).optional(),
  tag: z.string().max(60).optional(),
  theme: z.string().max(100).optional(),
  since: z.string().max(40).optional(),
  cursor: z.string().max(300).optional(),
});
const IdParam = z.object({ id: z.string().min(1).max(64) });
export const VISITOR_COOKIE = 'cv_visitor';

/**
 * Who is counting ("I've experienced this", "helpful"): a signed-in user, or a browser's visitor
 * cookie, given on first use, so each is counted once without an account.
 */
export function voterId(req: FastifyRequest, reply: FastifyReply, secure: boolean): string {
  if (req.actor) return `user:${req.actor.userId}`;
  const known = req.cookies[VISITOR_COOKIE];
  if (known) return `visitor:${known}`;
  const token = randomToken(16);
  reply.setCookie(VISITOR_COOKIE, token, { path: '/', httpOnly: true, sameSite: 'lax', secure, maxAge: 365 * 86_400 });
  return `visitor:${token}`;
}

export function storyPageRoutes(ctx: AppContext) {
  const { handle } = ctx;
  const db = handle.db;
  const secure = ctx.config.publicUrl.startsWith('https://');
  const rateLimit = ctx.config.storyRateLimit ? { rateLimit: { max: ctx.config.storyRateLimit, timeWindow: '1 minute' } } : {};

  const selectedServices = async (draft: Draft) =>
    presentServices(db, draft.data.services.length ? await db.selectFrom('services').selectAll().where('code', 'in', draft.data.services).execute() : []);

  const crumbs = [{ href: '/', text: 'Home' }];

  return async function (app: FastifyInstance) {
    // 1. Which services
    app.get('/tell', async (req, reply) => {
      const q = parseInput(SearchQuery, req.query);
      const draft = await draftFor(db, req, reply, secure);
      if (q.service && !draft.data.services.includes(q.service) && draft.data.services.length < MAX_SERVICES) {
        if (await db.selectFrom('services').select('id').where('code', '=', q.service).executeTakeFirst()) {
          draft.data.services.push(q.service);
          await saveDraft(db, draft);
        }
      }
      const results = q.q ? (await presentServices(db, await searchServices(db, q.q, 20))).filter((s) => !draft.data.services.includes(s.code)) : [];
      return reply.page('stories/views/tell-services.njk', { title: 'Which services is your story about?', q: q.q ?? '', results, selected: await selectedServices(draft), max: MAX_SERVICES, breadcrumbs: crumbs });
    });

    app.post('/tell/services', { preHandler: app.csrfProtection }, async (req, reply) => {
      const draft = await draftFor(db, req, reply, secure);
      const action = field(req.body, 'action');
      const code = field(req.body, 'code');
      if (action === 'add' && code && !draft.data.services.includes(code)) {
        if (draft.data.services.length >= MAX_SERVICES) throw new AppError('too_many_services', 400, `You can choose up to ${MAX_SERVICES} services.`);
        if (!(await db.selectFrom('services').select('id').where('code', '=', code).executeTakeFirst())) throw new AppError('unknown_service', 400, 'That service is not in the directory.');
        draft.data.services.push(code);
      } else if (action === 'remove') {
        draft.data.services = draft.data.services.filter((c) => c !== code);
      } else if (action === 'continue') {
        if (draft.data.services.length === 0) {
          return reply.page('stories/views/tell-services.njk', { title: 'Which services is your story about?', q: '', results: [], selected: [], max: MAX_SERVICES, breadcrumbs: crumbs, errors: [{ text: 'Choose at least one service your story is about', href: '#q' }] }, 400);
        }
        await saveDraft(db, draft);
        return reply.redirect('/tell/story', 303);
      }
      await saveDraft(db, draft);
      return reply.redirect('/tell', 303);
    });

    const needServices = async (req: FastifyRequest, reply: FastifyReply) => {
      const draft = await loadDraft(db, req);
      if (!draft || draft.storyId || draft.data.services.length === 0) {
        void reply.redirect('/tell', 303);
        return null;
      }
      return draft;
    };

    // 2. What happened
    app.get('/tell/story', async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      return reply.page('stories/views/tell-story.njk', { title: 'What happened?', values: draft.data, backLink: '/tell' });
    });
    app.post('/tell/story', { preHandler: app.csrfProtection }, async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      if (field(req.body, 'website')) throw new AppError('rejected', 400, 'We could not accept this form.');
      const values = { title: field(req.body, 'title'), body: field(req.body, 'body') };
      const errors: Errors = [];
      const t = firstIssue(shape.title.safeParse(values.title));
      if (t) errors.push({ text: values.title.trim() ? `Title: ${t}` : 'Enter a title for your story', href: '#title' });
      const b = firstIssue(shape.body.safeParse(values.body));
      if (b) errors.push({ text: values.body.trim() ? (/HTML/.test(b) ? 'Your story must not contain HTML tags' : b) : 'Tell us what happened', href: '#body' });
      draft.data.title = values.title;
      draft.data.body = values.body;
      await saveDraft(db, draft);
      if (errors.length) return reply.page('stories/views/tell-story.njk', { title: 'What happened?', values, errors, backLink: '/tell' }, 400);
      return reply.redirect('/tell/tags', 303);
    });

    // 3. Tags and rating
    app.get('/tell/tags', async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      return reply.page('stories/views/tell-tags.njk', { title: 'What was good, what could be better, how you felt', values: draft.data, groups: TAG_GROUPS, ratings: RATINGS, backLink: '/tell/story' });
    });
    app.post('/tell/tags', { preHandler: app.csrfProtection }, async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      const body = req.body as Record<string, unknown>;
      const pick = (g: keyof typeof TAG_GROUPS) => asList(body?.[g]).filter((t) => (TAG_GROUPS[g].tags as readonly string[]).includes(t));
      draft.data.tags = { good: pick('good'), improve: pick('improve'), felt: pick('felt') };
      const r = Number(field(body, 'rating'));
      draft.data.rating = Number.isInteger(r) && r >= 1 && r <= 5 ? r : null;
      await saveDraft(db, draft);
      return reply.redirect('/tell/about', 303);
    });

    // 4. About you
    app.get('/tell/about', async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      return reply.page('stories/views/tell-about.njk', { title: 'About you', values: draft.data, roles: AUTHOR_ROLES, backLink: '/tell/tags' });
    });
    app.post('/tell/about', { preHandler: app.csrfProtection }, async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      const values = { authorRole: field(req.body, 'authorRole'), pseudonym: field(req.body, 'pseudonym').trim(), email: field(req.body, 'email').trim() };
      const errors: Errors = [];
      if (!AUTHOR_ROLES.some((r) => r.key === values.authorRole)) errors.push({ text: 'Select who you are', href: '#authorRole' });
      if (values.pseudonym) {
        const p = checkPseudonym(values.pseudonym);
        if (!p.ok) errors.push({ text: p.reason, href: '#pseudonym' });
      }
      if (values.email && !shape.email.safeParse(values.email).success) errors.push({ text: 'Enter an email address in the right format, like name@example.com', href: '#email' });
      Object.assign(draft.data, values);
      await saveDraft(db, draft);
      if (errors.length) return reply.page('stories/views/tell-about.njk', { title: 'About you', values, roles: AUTHOR_ROLES, errors, backLink: '/tell/tags' }, 400);
      return reply.redirect('/tell/check', 303);
    });

    // 5. Check your answers, then send
    const checkPage = async (draft: Draft, errors?: Errors) => ({
      title: 'Check your story before sending it',
      values: draft.data,
      services: await selectedServices(draft),
      ratingLabel: RATINGS.find((r) => r.value === draft.data.rating)?.label,
      roleLabel: AUTHOR_ROLES.find((r) => r.key === draft.data.authorRole)?.label,
      tagSummary: TAG_GROUP_NAMES.filter((g) => draft.data.tags?.[g].length)
        .map((g) => `${TAG_GROUPS[g].label}: ${draft.data.tags![g].join(', ')}`)
        .join('; '),
      errors,
      backLink: '/tell/about',
    });
    app.get('/tell/check', async (req, reply) => {
      const draft = await needServices(req, reply);
      if (!draft) return reply;
      return reply.page('stories/views/tell-check.njk', await checkPage(draft));
    });
    app.post('/tell/check', { preHandler: app.csrfProtection, config: rateLimit }, async (req, reply) => {
      const draft = await loadDraft(db, req);
      if (draft?.storyId) return reply.redirect('/tell/done', 303);
      if (!draft || draft.data.services.length === 0) return reply.redirect('/tell', 303);
      const d = draft.data;
      let told;
      try {
        told = await tellStory(
          handle,
          { title: d.title ?? '', body: d.body ?? '', services: d.services, authorRole: d.authorRole ?? '', pseudonym: d.pseudonym || undefined, email: d.email || undefined, tags: d.tags, rating: d.rating ?? undefined },
          { idempotencyKey: `draft:${draft.id}`, channel: 'web', publicUrl: ctx.config.publicUrl },
        );
      } catch (err) {
        if (!(err instanceof AppError) || err.status !== 400) throw err;
        const fields = errorFields(err, '');
        const pageFor: Record<string, string> = { title: '/tell/story', body: '/tell/story', services: '/tell', authorRole: '/tell/about', pseudonym: '/tell/about', email: '/tell/about' };
        return reply.page('stories/views/tell-check.njk', await checkPage(draft, fields.map((f) => ({ text: f.message, href: Object.hasOwn(pageFor, f.field.split('.')[0]!) ? pageFor[f.field.split('.')[0]!]! : '#' }))), 400);
      }
      await db.updateTable('story_drafts').set({ story_id: told.id }).where('id', '=', draft.id).execute();
      return reply.redirect('/tell/done', 303);
    });

    app.get('/tell/done', async (req, reply) => {
      const draft = await loadDraft(db, req);
      if (!draft?.storyId) return reply.redirect('/tell', 303);
      const story = await toldStory(db, draft.storyId);
      if (!story) throw notFound('story', 'story_not_found');
      return reply.page('stories/views/tell-done.njk', { title: 'Your story has been sent', ref: story.ref, emailed: !!story.authorEmail });
    });

    // Public reading
    app.get('/stories', async (req, reply) => {
      const q = parseInput(StoriesQuery, req.query);
      const result = await listPublished(handle, { ...q, q: q.q || undefined, service: q.service || undefined, tag: q.tag || undefined, theme: q.theme || undefined, since: q.since || undefined, limit: 20 });
      const next = result.nextCursor ? `/stories?${new URLSearchParams({ ...Object.fromEntries(Object.entries(q).filter(([k, v]) => v && k !== 'cursor')), cursor: result.nextCursor }).toString()}` : null;
      const tags = TAG_GROUP_NAMES.flatMap((g) => TAG_GROUPS[g].tags.map((t) => t as string));
      return reply.page('stories/views/search.njk', { title: 'Search stories', values: q, stories: result.items, next, tags: [...new Set(tags)].sort(), themes: themeLabels().sort(), breadcrumbs: crumbs });
    });

    app.get('/stories/:id', async (req, reply) => {
      const { id } = parseInput(IdParam, req.params);
      const story = await getPublished(db, id);
      const orgIds = (await db.selectFrom('story_services').select('org_id').where('story_id', '=', id).execute()).map((r) => r.org_id);
      const query = req.query as Record<string, unknown>;
      const str = (k: string) => (typeof query[k] === 'string' ? (query[k] as string) : '');
      const stepIndex = PROGRESS_STEPS.findIndex((s) => s.key === story.progress);
      return reply.page('stories/views/story.njk', {
        title: story.title,
        story,
        steps: PROGRESS_STEPS.map((s, i) => ({ ...s, done: i <= stepIndex })),
        ratingLabel: RATINGS.find((r) => r.key === story.rating)?.label,
        roleLabel: AUTHOR_ROLES.find((r) => r.key === story.authorRole)?.label,
        groups: TAG_GROUPS,
        groupNames: TAG_GROUP_NAMES,
        breadcrumbs: [...crumbs, { href: '/stories', text: 'Stories' }],
        thanked: str('experienced') === '1',
        canRespond: can(req.actor, 'respond', { orgIds }),
        templates: can(req.actor, 'respond', { orgIds })
          ? await db.selectFrom('response_templates').select(['id', 'name', 'body']).where('org_id', 'in', orgIds.filter((o) => can(req.actor, 'respond', { orgIds: [o] }))).orderBy('name').execute()
          : [],
        templateId: str('template'),
        responded: str('responded'),
        respondError: str('error'),
        respondValues: { body: str('body'), change: str('change'), changeDescription: str('changeDescription') },
      });
    });

    app.post('/stories/:id/experienced', { preHandler: app.csrfProtection }, async (req, reply) => {
      const { id } = parseInput(IdParam, req.params);
      await markExperienced(handle, { storyId: id, voter: voterId(req, reply, secure) });
      return reply.redirect(`/stories/${id}?experienced=1#experienced`, 303);
    });
  };
}
