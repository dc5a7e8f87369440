import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo, DEMO_PASSWORD } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { ingestMention } from '../src/listening/mentions.ts';
import { CookieJar, csrfFrom, checkTold, startTestApp, submitForm, TEST_DB, type TestApp } from './helpers.ts';

/**
 * The authorisation matrix: every staff route, for every role, on a story of the role's own
 * organisation (Leeds Teaching Hospitals, RR8) and of another (Meanwood Green Surgery, B86901).
 * Allowed calls are sent with an invalid body where they would change something, so an allowed
 * role gets a 4xx other than 401/403 and the state stays the same for the next role.
 */
type Role = 'anonymous' | 'responder' | 'leader' | 'orgAdmin' | 'otherResponder' | 'moderator' | 'platformAdmin';
const EMAIL: Record<Exclude<Role, 'anonymous'>, string> = {
  responder: 'responder@demo.carevoice',
  leader: 'leader@demo.carevoice',
  orgAdmin: 'trust.admin@demo.carevoice',
  otherResponder: 'gp.responder@demo.carevoice',
  moderator: 'moderator@demo.carevoice',
  platformAdmin: 'admin@demo.carevoice',
};
const ROLES = Object.keys(EMAIL).concat('anonymous') as Role[];

let t: TestApp;
const jars = new Map<Role, CookieJar>();
const keys = new Map<Role, string>();
let own: string; // published story about RR8
let other: string; // published story about B86901
let pending: string;
let responseId: string;
let mention: string; // a social post about an RR8 ward

beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  for (const [role, email] of Object.entries(EMAIL) as Array<[Role, string]>) {
    const jar = new CookieJar();
    expect((await submitForm(t.app, jar, '/sign-in', '/sign-in', { email, password: DEMO_PASSWORD })).statusCode).toBe(303);
    jars.set(role, jar);
    const u = await t.handle.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow();
    keys.set(role, await createApiKey(t.handle.db, u.id));
  }
  jars.set('anonymous', new CookieJar());
  const tell = async (service: string) => {
    const id = (await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: { title: `About ${service}`, body: 'The staff were kind but the waiting room was cold and crowded.', services: [service], authorRole: 'patient' } })).json().id as string;
    await checkTold(t.handle);
    return id;
  };
  const mod = { authorization: `Bearer ${keys.get('moderator')}` };
  own = await tell('RR813-W07');
  other = await tell('B86901');
  pending = await tell('RR813-W07');
  for (const id of [own, other]) await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish', criticality: 1 }, headers: mod });
  const rr8 = await t.handle.db.selectFrom('organisations').select('id').where('ods_code', '=', 'RR8').executeTakeFirstOrThrow();
  mention = (await ingestMention(t.handle, { source: 'webhook', externalId: 'authz-1', url: null, author: '@someone', text: 'Ward 7 was noisy all night #Ward7LGI', tags: ['ward7lgi'], postedAt: new Date().toISOString() }, { orgId: rr8.id, channelId: null })).id;
  responseId = (await t.app.inject({ method: 'POST', url: `/api/v1/stories/${own}/responses`, payload: { body: 'Thank you for your story, we are looking into it.' }, headers: { authorization: `Bearer ${keys.get('responder')}` } })).json().id;
});
afterAll(async () => t.close());

interface Route {
  name: string;
  allowed: Role[];
  call: (role: Role) => Promise<{ statusCode: number; headers: Record<string, unknown> }>;
}

const staff: Role[] = ['responder', 'leader', 'orgAdmin', 'otherResponder', 'moderator', 'platformAdmin'];
const ownOrgStaff: Role[] = ['responder', 'leader', 'orgAdmin'];
const moderators: Role[] = ['moderator', 'platformAdmin'];

const page = (url: string) => (role: Role) => t.app.inject({ url, headers: { accept: 'text/html', cookie: jars.get(role)!.header() } });
const api = (method: 'GET' | 'POST', url: string, payload?: object) => (role: Role) =>
  t.app.inject({ method, url, ...(payload ? { payload } : {}), headers: role === 'anonymous' ? {} : { authorization: `Bearer ${keys.get(role)}` } });
/** Posts a form with the role's session and a valid CSRF token (from a page anyone can open). */
const form = (url: string, fields: Record<string, string>) => async (role: Role) => {
  const jar = jars.get(role)!;
  const home = await t.app.inject({ url: '/sign-in', headers: { accept: 'text/html', cookie: jar.header() } });
  jar.take(home);
  return t.app.inject({ method: 'POST', url, headers: { accept: 'text/html', cookie: jar.header(), 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams({ _csrf: csrfFrom(home.body), ...fields }).toString() });
};

const routes = (): Route[] => [
  { name: 'GET /staff', allowed: staff, call: page('/staff') },
  { name: 'GET /staff/inbox', allowed: staff, call: page('/staff/inbox') },
  { name: 'GET /staff/stories/:own', allowed: ownOrgStaff, call: page(`/staff/stories/${own}`) },
  { name: 'GET /staff/stories/:other', allowed: ['otherResponder'], call: page(`/staff/stories/${other}`) },
  { name: 'GET /staff/stories/new', allowed: ['responder', 'orgAdmin', 'otherResponder', 'moderator', 'platformAdmin'], call: page('/staff/stories/new') },
  { name: 'GET /staff/organisations/RR8', allowed: ['orgAdmin', 'platformAdmin'], call: page('/staff/organisations/RR8') },
  { name: 'GET /moderation', allowed: moderators, call: page('/moderation') },
  { name: 'GET /moderation/stories/:pending', allowed: moderators, call: page(`/moderation/stories/${pending}`) },
  { name: 'GET /moderation/responses', allowed: moderators, call: page('/moderation/responses') },
  { name: 'POST /staff/stories/:own/assign', allowed: ['responder', 'orgAdmin'], call: form(`/staff/stories/${own}/assign`, { assignee: 'nobody' }) },
  { name: 'POST /staff/stories/:own/notes', allowed: ownOrgStaff, call: form(`/staff/stories/${own}/notes`, { note: '' }) },
  { name: 'POST /stories/:own/responses', allowed: ['responder', 'orgAdmin'], call: form(`/stories/${own}/responses`, { body: '' }) },
  { name: 'POST /stories/:other/responses', allowed: ['otherResponder'], call: form(`/stories/${other}/responses`, { body: '' }) },
  { name: 'POST /staff/organisations/RR8', allowed: ['orgAdmin', 'platformAdmin'], call: form('/staff/organisations/RR8', { reviewWindowHours: 'bad' }) },
  { name: 'POST /moderation/stories/:pending/decision', allowed: moderators, call: form(`/moderation/stories/${pending}/decision`, { action: 'reject' }) },
  { name: 'POST /moderation/stories/:pending/themes', allowed: moderators, call: form(`/moderation/stories/${pending}/themes`, { themes: 'Not a theme' }) },
  { name: 'POST /moderation/responses/:id/decision', allowed: moderators, call: form(`/moderation/responses/${responseId}/decision`, { action: 'reject' }) },
  { name: 'GET /staff/alerts', allowed: staff, call: page('/staff/alerts') },
  { name: 'GET /staff/notifications', allowed: staff, call: page('/staff/notifications') },
  { name: 'POST /staff/alerts (RR8 ward)', allowed: ownOrgStaff, call: form('/staff/alerts', { service: 'RR813-W07', delivery: 'not-a-delivery' }) },
  { name: 'GET /api/v1/notifications', allowed: staff, call: api('GET', '/api/v1/notifications') },
  { name: 'GET /api/v1/me', allowed: staff, call: api('GET', '/api/v1/me') },
  { name: 'GET /api/v1/inbox', allowed: staff, call: api('GET', '/api/v1/inbox') },
  { name: 'GET /api/v1/moderation/queue', allowed: moderators, call: api('GET', '/api/v1/moderation/queue') },
  { name: 'GET /api/v1/moderation/responses', allowed: moderators, call: api('GET', '/api/v1/moderation/responses') },
  { name: 'POST /api/v1/moderation/stories/:pending/decision', allowed: moderators, call: api('POST', `/api/v1/moderation/stories/${pending}/decision`, { action: 'maybe' }) },
  { name: 'POST /api/v1/moderation/responses/:id/decision', allowed: moderators, call: api('POST', `/api/v1/moderation/responses/${responseId}/decision`, { action: 'maybe' }) },
  { name: 'POST /api/v1/stories/:own/responses', allowed: ['responder', 'orgAdmin'], call: api('POST', `/api/v1/stories/${own}/responses`, { body: '' }) },
  { name: 'POST /api/v1/stories/:other/responses', allowed: ['otherResponder'], call: api('POST', `/api/v1/stories/${other}/responses`, { body: '' }) },
  { name: 'POST /api/v1/stories/:own/themes', allowed: [...ownOrgStaff, ...moderators], call: api('POST', `/api/v1/stories/${own}/themes`, { themes: ['Not a theme'] }) },
  { name: 'GET /staff/live', allowed: ['responder', 'leader', 'orgAdmin', 'otherResponder', 'platformAdmin'], call: page('/staff/live') },
  { name: 'GET /staff/hotspots', allowed: ['responder', 'leader', 'orgAdmin', 'otherResponder', 'platformAdmin'], call: page('/staff/hotspots') },
  { name: 'GET /staff/mentions', allowed: staff, call: page('/staff/mentions') },
  { name: 'GET /staff/mentions/:rr8', allowed: [...ownOrgStaff, ...moderators], call: page(`/staff/mentions/${mention}`) },
  { name: 'POST /staff/mentions/:rr8/reply', allowed: ['responder', 'orgAdmin'], call: form(`/staff/mentions/${mention}/reply`, { reply: '' }) },
  { name: 'POST /staff/mentions/:rr8/story', allowed: ['responder', 'orgAdmin', ...moderators], call: form(`/staff/mentions/${mention}/story`, { title: '' }) },
  { name: 'GET /staff/organisations/RR8/channels', allowed: ['orgAdmin', 'platformAdmin'], call: page('/staff/organisations/RR8/channels') },
  { name: 'POST /staff/organisations/RR8/channels', allowed: ['orgAdmin', 'platformAdmin'], call: form('/staff/organisations/RR8/channels', { kind: 'mastodon', tags: '' }) },
  // An allowed caller meets the unknown service (404) instead of a stream that never ends.
  { name: 'GET /api/v1/live', allowed: ['responder', 'leader', 'orgAdmin', 'otherResponder', 'platformAdmin'], call: api('GET', '/api/v1/live?service=NO-SUCH') },
  { name: 'GET /api/v1/mentions', allowed: staff, call: api('GET', '/api/v1/mentions') },
  { name: 'POST /api/v1/stories/:other/themes', allowed: ['otherResponder', ...moderators], call: api('POST', `/api/v1/stories/${other}/themes`, { themes: ['Not a theme'] }) },
];

describe(`authorisation matrix on ${TEST_DB}`, () => {
  it('lets exactly the right roles through every staff route', async () => {
    const wrong: string[] = [];
    let checked = 0;
    for (const route of routes()) {
      for (const role of ROLES) {
        const res = await route.call(role);
        const location = String(res.headers.location ?? '');
        const refused = res.statusCode === 401 || res.statusCode === 403 || (res.statusCode === 303 && location.startsWith('/sign-in'));
        const expected = route.allowed.includes(role) ? 'allowed' : 'refused';
        const got = refused ? 'refused' : res.statusCode >= 500 ? `error ${res.statusCode}` : 'allowed';
        if (got !== expected) wrong.push(`${route.name} as ${role}: expected ${expected}, got ${res.statusCode} ${location}`);
        if (role === 'anonymous' && route.name.includes('/api/') && res.statusCode !== 401) wrong.push(`${route.name} anonymous: expected 401, got ${res.statusCode}`);
        checked++;
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBe(routes().length * ROLES.length);
    // Nothing the allowed calls did changed the stories.
    const states = await t.handle.db.selectFrom('stories').select(['id', 'moderation']).execute();
    expect(states.find((s) => s.id === pending)!.moderation).toBe('pending');
  });
});
