import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import helmet from 'helmet';
import rateLimit from '@fastify/rate-limit';
import fastifyStatic from '@fastify/static';
import { sql } from 'kysely';
import type { AppContext } from './platform/context.ts';
import { AppError } from './platform/errors.ts';
import { NHSUK_DIR, ROOT_DIR } from './platform/views.ts';
import { apiKeyUser, loadActor, SESSION_COOKIE, sessionUser } from './platform/auth/index.ts';
import { can, type Actor } from './platform/auth/policy.ts';
import { secureRandomBytes } from './platform/auth/tokens.ts';
import { httpDuration, registry } from './platform/metrics.ts';
import { directoryRoutes } from './directory/routes.ts';
import { peopleRoutes } from './people/routes.ts';
import { homeRoutes } from './home/routes.ts';
import { storyApiRoutes } from './stories/api.ts';
import { storyPageRoutes } from './stories/routes.ts';
import { moderationRoutes } from './moderation/routes.ts';
import { staffStoryRoutes } from './stories/staff-routes.ts';
import { organisationAdminRoutes } from './directory/admin-routes.ts';
import { responseRoutes } from './responses/routes.ts';
import { inboxRoutes } from './responses/inbox-routes.ts';
import { insightRoutes } from './insights/routes.ts';
import { alertRoutes } from './alerts/routes.ts';
import { rightsRoutes } from './rights/routes.ts';
import { listeningRoutes } from './listening/routes.ts';
import { unreadCount } from './alerts/alerts.ts';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
    /** True when the caller authenticated with an API key rather than a session cookie. */
    viaApiKey: boolean;
    sessionToken: string | undefined;
  }
  interface FastifyReply {
    page(template: string, data?: Record<string, unknown>, status?: number): Promise<FastifyReply>;
  }
}

export const isApi = (req: FastifyRequest) => req.url.startsWith('/api/');

const noop = () => {};
type NonceResponse = ServerResponse & { cspNonce?: string };

/**
 * Security headers, built once: helmet parses its options when a middleware is made, and making one
 * per request (as a nonce in the policy would need) cost more than many whole API requests. Pages
 * get a policy whose script nonce is read per request; the API answers only JSON and event streams,
 * so its policy allows nothing at all and needs no nonce.
 */
function securityHeaders(https: boolean) {
  // HSTS only means something over HTTPS; PUBLIC_URL says whether we are served that way.
  const strictTransportSecurity = https ? { maxAge: 31_536_000, includeSubDomains: true } : false;
  const page = helmet({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", (_req, res) => `'nonce-${(res as NonceResponse).cspNonce}'`],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        fontSrc: ["'self'", 'https://assets.nhs.uk'],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
      },
    },
    strictTransportSecurity,
  });
  // The headers that mean something for JSON and event streams; those that only concern documents
  // (opener isolation, DNS prefetching, download prompts, Flash policies, the old XSS filter) are
  // left out of every API answer. Nothing in them varies per request, so helmet is asked once, here,
  // and each answer carries what it gave among Fastify's own headers (see the onRequest hook).
  const api = fixedHeaders(
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      strictTransportSecurity,
      crossOriginOpenerPolicy: false,
      originAgentCluster: false,
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xPermittedCrossDomainPolicies: false,
      xXssProtection: false,
    }),
  );
  return { page, api };
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * The headers a middleware sets on an answer, in order, read from one run against a stand-in
 * answer. Only for a middleware whose headers do not depend on the request (helmet with no
 * function in its policy). Exported for the test that compares them with helmet's own.
 */
export function fixedHeaders(middleware: Middleware): Readonly<Record<string, string>> {
  const headers = new Map<string, string>();
  const stand = {
    setHeader: (name: string, value: string | number | readonly string[]) => headers.set(name.toLowerCase(), String(value)),
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  };
  let failed: unknown;
  middleware({ method: 'GET', url: '/', headers: {} } as IncomingMessage, stand as unknown as ServerResponse, (err) => (failed = err));
  if (failed) throw failed instanceof Error ? failed : new Error(String(failed));
  return Object.fromEntries(headers);
}

/** Builds the whole app without listening, so tests can use `inject` or listen on a port of their own. */
export async function buildApp(ctx: AppContext): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : crypto.randomUUID();
    },
    bodyLimit: 1_048_576,
    trustProxy: true,
    // A JSON body with keys like __proto__ is refused rather than silently stripped.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: 200 },
    // Errors the router raises before any route runs (a malformed or overlong URL) get the same shape.
    frameworkErrors: (err, _req, reply: FastifyReply) => {
      const status = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 400;
      const code = err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'url_too_long' : 'bad_url';
      const message = status === 414 ? 'A part of the address is too long.' : 'The address is not a valid URL.';
      void reply.code(status).type('application/json').send({ error: { code, message } });
    },
  });

  app.decorateRequest('actor', null);
  app.decorateRequest('viaApiKey', false);
  app.decorateRequest('sessionToken', undefined);

  const headers = securityHeaders(ctx.config.publicUrl.startsWith('https://'));
  // Hooks that run on every request are written with callbacks, not async functions: at thousands
  // of requests a second the promise each async hook makes is measurable.
  app.addHook('onRequest', (req, reply, done) => {
    ctx.requests?.started();
    // API answers: among the reply's own headers, which Node writes in one pass. Set on the raw
    // response instead (as helmet does), every header of the answer took Node's slower path of
    // merging the two sets: a story told took 265 us of the event loop against 241 now (means of
    // six alternating runs).
    if (isApi(req)) reply.headers(headers.api);
    else {
      (reply.raw as NonceResponse).cspNonce = secureRandomBytes(16).toString('base64');
      headers.page(req.raw, reply.raw, noop);
    }
    done();
  });
  await app.register(cookie, { secret: ctx.secret });
  await app.register(csrf, {
    cookieKey: 'cv_csrf',
    cookieOpts: { path: '/', sameSite: 'lax', httpOnly: true, signed: true, secure: ctx.config.publicUrl.startsWith('https://') },
  });
  await app.register(formbody, { bodyLimit: 1_048_576 });
  await app.register(rateLimit, { global: false });
  await app.register(fastifyStatic, { root: path.join(NHSUK_DIR, 'nhsuk'), prefix: '/assets/', maxAge: '1d', decorateReply: false });
  await app.register(fastifyStatic, { root: path.join(ROOT_DIR, 'public'), prefix: '/static/', maxAge: '1h', decorateReply: false });

  // NUL characters are refused everywhere: PostgreSQL cannot store them in text, and no story,
  // code or search needs one. Checking here keeps the two databases behaving the same.
  app.addHook('onRequest', (req, _reply, done) => {
    if (req.url.includes('%00') || req.url.includes('\u0000')) return done(new AppError('invalid_characters', 400, 'The address contains a NUL character.'));
    done();
  });
  app.addHook('preValidation', (req, _reply, done) => {
    if (req.body !== undefined && req.body !== null && hasNul(req.body)) return done(new AppError('invalid_characters', 400, 'The request contains a NUL character.'));
    done();
  });

  const authenticate = async (req: FastifyRequest) => {
    const auth = req.headers.authorization;
    if (auth !== undefined) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      const userId = m ? await apiKeyUser(ctx.handle.db, m[1]!) : null;
      if (!userId) throw new AppError('unauthorised', 401, 'The API key is missing, malformed, revoked or unknown.');
      req.actor = await loadActor(ctx.handle.db, userId);
      req.viaApiKey = true;
      return;
    }
    const token = req.cookies[SESSION_COOKIE];
    if (token) {
      const userId = await sessionUser(ctx.handle.db, token);
      if (userId) {
        req.actor = await loadActor(ctx.handle.db, userId);
        req.sessionToken = token;
      }
    }
  };
  app.addHook('onRequest', (req, _reply, done) => {
    // Most API calls carry neither a key nor a session: nothing to look up.
    if (req.headers.authorization === undefined && !req.cookies[SESSION_COOKIE]) return done();
    authenticate(req).then(() => done(), done);
  });

  // While shutting down, answer requests in flight with `Connection: close`, so keep-alive clients
  // let go and close() can finish without cutting anyone off.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    app.server.closeIdleConnections();
  });
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (req, reply, done) => {
    httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    done();
  });

  app.decorateReply('page', async function (this: FastifyReply, template: string, data: Record<string, unknown> = {}, status = 200) {
    const req = this.request;
    const actor = req.actor;
    const html = ctx.views.render(template, {
      query: req.query,
      ...data,
      actor: actor ? { name: actor.name, email: actor.email } : null,
      csrfToken: this.generateCsrf(),
      cspNonce: (this.raw as NonceResponse).cspNonce,
      navigation: navigationFor(actor, actor ? await unreadCount(ctx.handle, actor.userId) : 0),
    });
    return this.code(status).type('text/html; charset=utf-8').send(html);
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      await sql`SELECT 1`.execute(ctx.handle.db);
      return { status: 'ok' };
    } catch {
      return reply.code(503).send({ status: 'unavailable' });
    }
  });
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.setNotFoundHandler(async (req, reply) => {
    if (isApi(req)) return reply.code(404).send({ error: { code: 'not_found', message: `No route ${req.method} ${req.url.split('?')[0]}` } });
    return reply.page('error.njk', { title: 'Page not found', paragraphs: ['If you typed the web address, check it is correct.', 'If you pasted the web address, check you copied the entire address.'] }, 404);
  });

  app.setErrorHandler(async (err: Error & { statusCode?: number; code?: string; validation?: unknown }, req, reply) => {
    const { status, code, message, details } = describeError(err);
    if (status >= 500) req.log.error({ err }, 'request failed');
    else req.log.info({ code, status }, 'request refused');
    if (status === 401) reply.header('www-authenticate', 'Bearer');
    if (isApi(req) || !req.headers.accept?.includes('text/html')) {
      return reply.code(status).send({ error: { code, message, ...(details !== undefined ? { details } : {}) } });
    }
    const title =
      status === 404 ? 'Page not found' : status === 403 ? 'You cannot see this page' : status === 429 ? 'Too many attempts' : status >= 500 ? 'Sorry, there is a problem with the service' : 'There is a problem';
    const paragraphs = status >= 500 ? ['Try again later.'] : [message];
    return reply.page('error.njk', { title, paragraphs }, status);
  });

  // Registered after the error and not-found handlers, so every feature inherits them.
  await app.register(homeRoutes(ctx));
  await app.register(directoryRoutes(ctx));
  await app.register(peopleRoutes(ctx));
  await app.register(storyApiRoutes(ctx));
  await app.register(storyPageRoutes(ctx));
  await app.register(moderationRoutes(ctx));
  await app.register(staffStoryRoutes(ctx));
  await app.register(organisationAdminRoutes(ctx));
  await app.register(responseRoutes(ctx));
  await app.register(inboxRoutes(ctx));
  await app.register(insightRoutes(ctx));
  await app.register(alertRoutes(ctx));
  await app.register(rightsRoutes(ctx));
  await app.register(listeningRoutes(ctx));

  return app;
}

/** Maps any error to the status, stable code and message the client sees. */
export function describeError(err: Error & { statusCode?: number; code?: string; validation?: unknown }): {
  status: number;
  code: string;
  message: string;
  details?: unknown;
} {
  if (err instanceof AppError) return { status: err.status, code: err.code, message: err.message, details: err.details };
  if (err.validation) return { status: 400, code: 'invalid_request', message: err.message };
  const fc = err.code ?? '';
  if (fc === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return { status: 415, code: 'unsupported_media_type', message: 'Send JSON (Content-Type: application/json) or a form.' };
  if (fc === 'FST_ERR_CTP_BODY_TOO_LARGE') return { status: 413, code: 'body_too_large', message: 'The request body is too large.' };
  if (fc === 'FST_ERR_CTP_EMPTY_JSON_BODY') return { status: 400, code: 'empty_body', message: 'The JSON body is empty.' };
  if (fc === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.name === 'SyntaxError') return { status: 400, code: 'invalid_json', message: 'The body is not valid JSON.' };
  if (fc === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH') return { status: 400, code: 'bad_content_length', message: 'The Content-Length does not match the body.' };
  if (fc.startsWith('FST_CSRF')) return { status: 403, code: 'csrf_failed', message: 'This form has expired or did not come from this site. Go back, reload the page and try again.' };
  if (/prototype|constructor/i.test(err.message) && (err.statusCode ?? 0) === 400) return { status: 400, code: 'forbidden_key', message: 'The body uses a forbidden key (__proto__ or constructor).' };
  if (err.statusCode === 429) return { status: 429, code: 'rate_limited', message: 'Too many requests. Wait a minute and try again.' };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return { status: err.statusCode, code: fc ? fc.toLowerCase() : 'bad_request', message: err.message };
  if (isDatabaseUnavailable(err)) return { status: 503, code: 'unavailable', message: 'The database is not answering. Try again shortly.' };
  return { status: 500, code: 'internal', message: 'Something went wrong on our side.' };
}

function isDatabaseUnavailable(err: Error & { code?: string }): boolean {
  // pg's own "Client has encountered a connection error and is not queryable" has no code: it is
  // what the next query of a transaction gets once PostgreSQL has dropped that client's connection.
  return ['ECONNREFUSED', 'ECONNRESET', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', 'SQLITE_BUSY'].includes(err.code ?? '') || /Connection terminated|timeout exceeded when trying to connect|is not queryable/i.test(err.message);
}

/** True when any string (or key) in a parsed body holds a NUL; iterative, so deep nesting cannot overflow. */
export function hasNul(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return true;
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\u0000')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

function navigationFor(actor: Actor | null, unread: number) {
  const items = [
    { href: '/tell', text: 'Tell your story' },
    { href: '/stories', text: 'Read stories' },
    { href: '/services', text: 'Find a service' },
    { href: '/library', text: 'Changes made' },
  ];
  if (actor) items.push({ href: '/staff', text: 'Staff home' });
  if (actor && actor.orgRoles.size > 0) items.push({ href: '/staff/inbox', text: 'Inbox' });
  if (can(actor, 'watch-live', { orgIds: actor ? [...actor.orgRoles.keys()] : [] })) items.push({ href: '/staff/live', text: 'Live wall' });
  if (actor) items.push({ href: '/staff/notifications', text: unread ? `Notifications (${unread})` : 'Notifications' });
  if (can(actor, 'moderate')) items.push({ href: '/moderation', text: 'Moderation' });
  return items;
}
