import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import helmet from 'helmet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedHeaders } from '../src/app.ts';
import { seedDemo, DEMO_PASSWORD } from '../src/demo/seed.ts';
import { createApiKey, MAX_FAILED_SIGN_INS, SESSION_COOKIE } from '../src/platform/auth/index.ts';
import { sha256 } from '../src/platform/auth/tokens.ts';
import { CookieJar, startTestApp, submitForm, TEST_DB, type TestApp } from './helpers.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await seedDemo(t.handle, { stories: 0 });
});
afterAll(async () => t.close());

const html = { accept: 'text/html' };

describe(`people and access on ${TEST_DB}`, () => {
  it('signs in with a stored session in an HttpOnly, SameSite=Lax cookie', async () => {
    const jar = new CookieJar();
    const res = await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'Responder@demo.carevoice', password: DEMO_PASSWORD, next: '/staff' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/staff');
    const cookie = ([] as string[]).concat(res.headers['set-cookie'] as string[]).find((c) => c.startsWith(`${SESSION_COOKIE}=`))!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const token = jar.get(SESSION_COOKIE)!;
    const stored = await t.handle.db.selectFrom('sessions').select('id').where('id', '=', sha256(token)).executeTakeFirst();
    expect(stored).toBeDefined();
    const staff = await t.app.inject({ url: '/staff', headers: { cookie: jar.header(), ...html } });
    expect(staff.statusCode).toBe(200);
    expect(staff.body).toContain('Rachel Responder');
    expect(staff.body).toContain('Leeds Teaching Hospitals NHS Trust');
  });

  it('gives a new session id on every sign-in and ends the old one (no fixation)', async () => {
    const jar = new CookieJar();
    await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'leader@demo.carevoice', password: DEMO_PASSWORD });
    const first = jar.get(SESSION_COOKIE)!;
    await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'leader@demo.carevoice', password: DEMO_PASSWORD });
    const second = jar.get(SESSION_COOKIE)!;
    expect(second).not.toBe(first);
    const old = await t.app.inject({ url: '/staff', headers: { cookie: `${SESSION_COOKIE}=${first}`, ...html } });
    expect(old.statusCode).toBe(303);
    expect(old.headers.location).toMatch(/^\/sign-in/);
  });

  it('refuses a form post without a valid CSRF token and changes nothing', async () => {
    const before = Number((await t.handle.db.selectFrom('sessions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    const res = await t.app.inject({
      method: 'POST',
      url: '/sign-in',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...html },
      payload: `email=responder%40demo.carevoice&password=${DEMO_PASSWORD}`,
    });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('This form has expired');
    const after = Number((await t.handle.db.selectFrom('sessions').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    expect(after).toBe(before);
  });

  it('shows the form again with the email kept after a wrong password, then locks the account', async () => {
    const jar = new CookieJar();
    const wrong = await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'gp.responder@demo.carevoice', password: 'not-the-password' });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.body).toContain('The email address or password is not right');
    expect(wrong.body).toContain('value="gp.responder@demo.carevoice"');
    expect(wrong.body).toContain('nhsuk-error-summary');
    for (let i = 1; i < MAX_FAILED_SIGN_INS; i++) await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'gp.responder@demo.carevoice', password: 'still-wrong' });
    const locked = await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'gp.responder@demo.carevoice', password: DEMO_PASSWORD });
    expect(locked.statusCode).toBe(400);
    expect(locked.body).toContain('locked');
    expect(jar.get(SESSION_COOKIE)).toBeUndefined();
  });

  it('asks for both fields when the form is empty', async () => {
    const res = await submitForm(t.app, new CookieJar(), '/sign-in', '/sign-in', { email: '', password: '' });
    expect(res.statusCode).toBe(400);
    expect(res.body).toContain('Enter your email address');
    expect(res.body).toContain('Enter your password');
  });

  it('never redirects after sign-in to another site', async () => {
    const res = await submitForm(t.app, new CookieJar(), '/sign-in', '/sign-in', { email: 'mh.leader@demo.carevoice', password: DEMO_PASSWORD, next: '//evil.example/' });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/staff');
  });

  it('signs out through a CSRF-protected form', async () => {
    const jar = new CookieJar();
    await submitForm(t.app, jar, '/sign-in', '/sign-in', { email: 'mh.responder@demo.carevoice', password: DEMO_PASSWORD });
    const token = jar.get(SESSION_COOKIE)!;
    const out = await submitForm(t.app, jar, '/sign-out', '/sign-out', {});
    expect(out.statusCode).toBe(303);
    expect(await t.handle.db.selectFrom('sessions').select('id').where('id', '=', sha256(token)).executeTakeFirst()).toBeUndefined();
  });

  it('accepts an API key as a Bearer token and stores only its hash', async () => {
    const user = await t.handle.db.selectFrom('users').select('id').where('email', '=', 'leader@demo.carevoice').executeTakeFirstOrThrow();
    const key = await createApiKey(t.handle.db, user.id);
    const rows = await t.handle.db.selectFrom('api_keys').select(['key_hash', 'prefix']).where('user_id', '=', user.id).execute();
    expect(rows.some((r) => r.key_hash === sha256(key))).toBe(true);
    expect(rows.every((r) => r.key_hash !== key)).toBe(true);
    const me = await t.app.inject({ url: '/api/v1/me', headers: { authorization: `Bearer ${key}` } });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ email: 'leader@demo.carevoice', organisations: [{ code: 'RR8', roles: ['leader'] }] });
  });

  it('answers a missing or bad API key with 401 JSON, never a redirect', async () => {
    for (const authorization of [undefined, 'Bearer cvk_nonsense', 'Basic abc', 'Bearer ', 'Bearer ' + 'x'.repeat(5000)]) {
      const res = await t.app.inject({ url: '/api/v1/me', headers: authorization === undefined ? {} : { authorization } });
      expect(res.statusCode).toBe(401);
      expect(res.headers.location).toBeUndefined();
      expect(res.json()).toEqual({ error: { code: 'unauthorised', message: expect.any(String) } });
    }
  });

  it('sends a signed-out visitor of a staff page to sign in', async () => {
    const res = await t.app.inject({ url: '/staff', headers: html });
    expect(res.statusCode).toBe(303);
    expect(res.headers.location).toBe('/sign-in?next=%2Fstaff');
  });
});

describe(`pages and errors on ${TEST_DB}`, () => {
  it('serves the home page with the NHS.UK design system, a skip link and security headers', async () => {
    const res = await t.app.inject({ url: '/', headers: html });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('/assets/nhsuk-frontend.min.css');
    expect(res.body).toContain('nhsuk-skip-link');
    expect(res.body).toContain('nhsuk-header');
    expect(res.body).toContain('nhsuk-footer');
    expect(res.body).toContain('Tell your story');
    expect(res.body).toContain('Yorkshire Ambulance Service NHS Trust');
    expect(res.headers['content-security-policy']).toMatch(/frame-ancestors 'none'/);
    expect(res.headers['content-security-policy']).toMatch(/script-src 'self' 'nonce-/);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const css = await t.app.inject({ url: '/assets/nhsuk-frontend.min.css' });
    expect(css.statusCode).toBe(200);
    expect(css.headers['content-type']).toMatch(/text\/css/);
  });

  it('puts the same security headers on every API answer, errors included, and HSTS only behind HTTPS', async () => {
    const answers = [
      await t.app.inject({ url: '/api/v1/services' }),
      await t.app.inject({ url: '/api/v1/nothing' }),
      await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: '{bad json', headers: { 'content-type': 'application/json' } }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 404, 400]);
    for (const a of answers) {
      expect(a.headers['content-security-policy']).toBe("default-src 'none';frame-ancestors 'none'");
      expect(a.headers['x-content-type-options']).toBe('nosniff');
      expect(a.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(a.headers['strict-transport-security']).toBeUndefined();
    }
    const https = await startTestApp({ PUBLIC_URL: 'https://carevoice.example' });
    try {
      for (const url of ['/api/v1/services', '/']) {
        const res = await https.app.inject({ url, headers: html });
        expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
      }
    } finally {
      await https.close();
    }
  });

  it('reads the fixed API headers from helmet as helmet sets them on a real answer', () => {
    const options = { contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"] } }, strictTransportSecurity: { maxAge: 60 } };
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    helmet(options)(res.req, res, () => {});
    const fromHelmet = Object.fromEntries(Object.entries(res.getHeaders()).map(([k, v]) => [k, String(v)]));
    expect(fixedHeaders(helmet(options))).toEqual(fromHelmet);
    expect(Object.keys(fromHelmet).length).toBeGreaterThan(5);
    expect(() => fixedHeaders((_req, _res, next) => next(new Error('refused')))).toThrow('refused');
  });

  it('shows a friendly 404 page, and JSON 404 on the API', async () => {
    const page = await t.app.inject({ url: '/no/such/page', headers: html });
    expect(page.statusCode).toBe(404);
    expect(page.body).toContain('Page not found');
    const svc = await t.app.inject({ url: '/services/NOPE', headers: html });
    expect(svc.statusCode).toBe(404);
    expect(svc.body).toContain('Page not found');
    const api = await t.app.inject({ url: '/api/v1/nothing' });
    expect(api.statusCode).toBe(404);
    expect(api.json().error.code).toBe('not_found');
  });

  it('answers bad input with a clear 4xx JSON error, never a 5xx', async () => {
    const cases = [
      { method: 'POST' as const, url: '/api/v1/services', payload: '{bad json', headers: { 'content-type': 'application/json' } },
      { method: 'GET' as const, url: '/api/v1/services?limit=-4' },
      { method: 'GET' as const, url: '/api/v1/services?limit=abc' },
      { method: 'GET' as const, url: '/api/v1/services?q=a&q=b' },
      { method: 'GET' as const, url: `/api/v1/services/${'x'.repeat(300)}` },
      { method: 'GET' as const, url: '/api/v1/services/%E0%A4%A' },
      { method: 'POST' as const, url: '/sign-in', payload: 'x'.repeat(2_000_000), headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { method: 'POST' as const, url: '/sign-in', payload: '{"__proto__":{"a":1}}', headers: { 'content-type': 'application/json' } },
      { method: 'POST' as const, url: '/sign-in', payload: '<xml/>', headers: { 'content-type': 'application/xml' } },
    ];
    for (const c of cases) {
      const res = await t.app.inject(c);
      expect(res.statusCode, `${c.method} ${c.url.slice(0, 60)}`).toBeGreaterThanOrEqual(400);
      expect(res.statusCode, `${c.method} ${c.url.slice(0, 60)}`).toBeLessThan(500);
      const body = res.json();
      expect(body.error.code, `${c.method} ${c.url.slice(0, 60)}`).toEqual(expect.any(String));
      expect(body.error.message).toEqual(expect.any(String));
    }
  });

  it('answers health and metrics', async () => {
    expect((await t.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const m = await t.app.inject({ url: '/metrics' });
    expect(m.statusCode).toBe(200);
    expect(m.body).toContain('carevoice_http_request_duration_seconds');
    expect(m.body).toContain('process_cpu_user_seconds_total');
  });
});
