// A reproducible fuzz run over the API and the form routes: thousands of malformed and hostile
// requests sent in-process with `app.inject`. Whatever comes in, the app must answer with a 4xx
// (never a 5xx), API errors must keep the `{"error":{"code","message"}}` shape, nothing may crash
// or pollute Object.prototype, and only valid requests may create stories.
//
// FUZZ_SEED and FUZZ_REQUESTS (environment) replay or lengthen a run; a failure names the seed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD, seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { themeLabels } from '../src/stories/models.ts';
import { CookieJar, csrfFrom, checkTold, startTestApp, submitForm, TEST_DB, type TestApp } from './helpers.ts';
import { mulberry32 } from '../src/nlp/classifier/index.ts';
import { addChannel } from '../src/listening/channels.ts';
import { secretsKey } from '../src/platform/secrets.ts';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_607);
const DRAFT_JARS = 4;
/** Requests in flight at once (within a batch, see below). */
const BATCH = 16;

// ---------------------------------------------------------------------------------------------
// Seeded pseudo-random numbers (mulberry32): the same seed sends the same requests.

type Rng = () => number;

let rnd: Rng = mulberry32(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const chance = (p: number) => rnd() < p;
function pick<T>(items: readonly T[]): T {
  return items[int(items.length)]!;
}
/** Picks by weight: `[[weight, value], ...]`. */
function weighted<T>(items: ReadonlyArray<readonly [number, T]>): T {
  const total = items.reduce((s, [w]) => s + w, 0);
  let x = rnd() * total;
  for (const [w, v] of items) {
    x -= w;
    if (x < 0) return v;
  }
  return items[items.length - 1]![1];
}

// ---------------------------------------------------------------------------------------------
// Hostile values.

const SERVICE_CODES = ['RR8', 'RR813', 'RR813-ED', 'RR813-W07', 'RGD', 'RX8', 'B86901'] as const;
const ROLES = ['patient', 'carer', 'relative', 'staff', 'other'] as const;
const GOOD_TAGS = ['Kindness and compassion', 'Listened to', 'Clear information', 'Skilled staff'] as const;
const IMPROVE_TAGS = ['Waiting times', 'Communication', 'Parking', 'Discharge'] as const;
const FELT_TAGS = ['Grateful', 'Reassured', 'Anxious', 'Frustrated'] as const;
const RATING_KEYS = ['very_good', 'good', 'neither', 'poor', 'very_poor'] as const;

const NASTY: readonly string[] = [
  "' OR 1=1 --",
  "' OR '1'='1",
  '"*)(',
  'NEAR(',
  'NEAR(a b, 2)',
  '\u0000',
  'a\u0000b',
  'kind\u0000nurses',
  '%',
  '_',
  '%_%',
  '\\',
  '\\%',
  '"',
  "'",
  '`',
  '; DROP TABLE stories; --',
  "1' UNION SELECT password_hash FROM users --",
  'title:x',
  '* OR 1',
  '"unterminated',
  '()',
  'AND',
  'OR NOT -',
  '^x',
  '{a b}',
  'a OR b NOT c',
  'x:*',
  '!!',
  '&|!<->',
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '../../../etc/passwd',
  '..%2F..%2F',
  '\uD800',
  '\uDFFF',
  'a\uD83Db',
  '\uFEFF',
  '\u202Eevil',
  '\u0085\u2028\u2029',
  '😀😀😀😀😀😀',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-1',
  '1e309',
  '0x10',
  '2026-13-45',
  '2026-01-31',
  '+275760-09-13T00:00:00.000Z',
  '+275760-09-14',
  '-271821-04-20',
  '0000-00-00',
  '99999999999999999999999999999',
  ' ',
  '\t\n\r',
  '$where',
  '{"$gt":""}',
  'RR813-W07',
  'RR8',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '%00',
  '%s%s%s%n',
  '${7*7}',
  '{{7*7}}',
  '{% raw %}',
  'İİİİİ',
  'ß'.repeat(40),
  'Staff_manner%',
  'Kindness and compassion',
  'Waiting times',
];

/** Keys every plain object inherits: a lookup table indexed by user input must not find them. */
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', '__lookupGetter__'] as const;

const LONG_LENGTHS = [65, 101, 121, 201, 301, 1_000, 20_001, 100_000, 400_000] as const;
const longCache = new Map<number, string>();
const long = (n: number) => {
  let s = longCache.get(n);
  if (s === undefined) {
    s = 'abc def '.repeat(Math.ceil(n / 8)).slice(0, n);
    longCache.set(n, s);
  }
  return s;
};

function randomUnicode(): string {
  const n = 1 + int(24);
  let s = '';
  for (let i = 0; i < n; i++) {
    const cp = weighted<() => number>([
      [4, () => 0x20 + int(0x5f)],
      [2, () => int(0x20)],
      [1, () => 0x80 + int(0x780)],
      [1, () => 0xd800 + int(0x800)],
      [1, () => 0x1f300 + int(0x300)],
      [1, () => 0xfff0 + int(0x10)],
    ])();
    s += cp >= 0xd800 && cp < 0xe000 ? String.fromCharCode(cp) : String.fromCodePoint(cp);
  }
  return s;
}

function nastyString(): string {
  return weighted<() => string>([
    [6, () => pick(NASTY)],
    [1, () => pick(PROTO_KEYS)],
    [2, randomUnicode],
    [1, () => long(pick(LONG_LENGTHS))],
    [1, () => `${pick(NASTY)}${pick(NASTY)}${randomUnicode()}`],
  ])();
}

function nastyValue(depth = 0): unknown {
  return weighted<() => unknown>([
    [6, nastyString],
    [2, () => pick([0, -1, 1, 3, 5, 6, 1.5, -0.5, 1e308, -1e308, 2 ** 53 + 2, 1e-320])],
    [1, () => pick([true, false, null])],
    [1, () => (depth > 2 ? [] : Array.from({ length: int(4) }, () => nastyValue(depth + 1)))],
    [1, () => (depth > 2 ? {} : Object.fromEntries(Array.from({ length: int(3) }, () => [pick(['a', 'title', 'toString', 'valueOf', 'length', '0', '']), nastyValue(depth + 1)])))],
  ])();
}

function validStory(): Record<string, unknown> {
  const story: Record<string, unknown> = {
    title: pick(['Kind nurses on the ward', 'Long wait in the emergency department', 'Parking was hard', 'Thank you to the team']),
    body: `${pick(['The nurses were very kind and explained everything to us.', 'We waited for six hours before anyone saw my mother in the department.', 'The food was cold but the staff were lovely and always had time for a chat.'])} ${pick(['It was a Tuesday.', 'Thank you.', 'Please fix the parking.', ''])}`,
    services: Array.from(new Set(Array.from({ length: 1 + int(2) }, () => pick(SERVICE_CODES)))),
    authorRole: pick(ROLES),
  };
  if (chance(0.4)) story.email = `teller${int(1000)}@example.org`;
  if (chance(0.4)) story.tags = chance(0.5) ? [pick(GOOD_TAGS), pick(IMPROVE_TAGS)] : { good: [pick(GOOD_TAGS)], felt: [pick(FELT_TAGS)] };
  if (chance(0.4)) story.rating = chance(0.5) ? 1 + int(5) : pick(RATING_KEYS);
  return story;
}

// Bodies that are bad before any schema sees them.
const DEEP_ARRAY = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
const DEEP_OBJECT = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
const HUGE_1MB = JSON.stringify({ title: 'Huge', body: 'x'.repeat(1_100_000), services: ['RR8'], authorRole: 'patient' });
const HUGE_3MB = `{"title":"${'y'.repeat(3_000_000)}"}`;
const NEAR_LIMIT = JSON.stringify({ title: 'Near the limit', body: 'z '.repeat(500_000), services: ['RR8'], authorRole: 'patient' });
const BROKEN_JSON: readonly string[] = [
  '',
  ' ',
  '{',
  '}',
  '{"title": ',
  '{"title":"x",}',
  "{'title':'x'}",
  '{"title":NaN}',
  '{"title":Infinity}',
  '{"title":undefined}',
  '{"a":1}{"b":2}',
  '[1,2',
  '/* comment */ {}',
  '\uFEFF{}',
  'null',
  'true',
  '42',
  '"a string"',
  '[]',
  '{}',
  '[{}]',
  '{"title":"\\ud800"}',
  '{"title":"\\u0000"}',
  '{"title":"\\x41"}',
  '{"services":{"0":"RR8","length":1}}',
  '{"title":"a","title":"b"}',
  '{"__proto__":{"polluted":"yes"}}',
  '{"a":{"__proto__":{"polluted":"yes"}}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '[{"constructor":{"prototype":{"polluted":"yes"}}}]',
  '{"__proto__":null}',
  '{"\\u005f_proto__":{"polluted":"yes"}}',
  '{"constructor.prototype.polluted":"yes"}',
  '{"__proto__.polluted":"yes"}',
  '1e99999',
  '-',
  '{"a":1e400}',
];
const INVALID_UTF8: readonly Buffer[] = [
  Buffer.from([0xff, 0xfe, 0xfd]),
  Buffer.concat([Buffer.from('{"title":"'), Buffer.from([0xc3, 0x28]), Buffer.from('","body":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')]),
  Buffer.concat([Buffer.from('{"title":"Good care ok","body":"'), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80]), Buffer.from(' a long enough body text here","services":["RR8"],"authorRole":"patient"}')]),
  Buffer.concat([Buffer.from('{"q":"'), Buffer.from([0x80, 0x80, 0x80]), Buffer.from('"}')]),
  Buffer.from([0x7b, 0x00, 0x7d]),
  Buffer.from('{"title":"\u0000"}', 'utf16le'),
];

function storyJson(): { text: string | Buffer; valid: boolean } {
  return weighted<() => { text: string | Buffer; valid: boolean }>([
    [10, () => ({ text: JSON.stringify(validStory()), valid: true })],
    [
      14,
      () => {
        const s = validStory();
        const fields = ['title', 'body', 'services', 'authorRole', 'email', 'tags', 'rating', 'pseudonym', 'channel'];
        for (let k = 1 + int(2); k > 0; k--) {
          const f = pick(fields);
          s[f] = f === 'services' && chance(0.5) ? [nastyString()] : f === 'tags' && chance(0.5) ? { good: [nastyString()] } : nastyValue();
        }
        return { text: JSON.stringify(s), valid: false };
      },
    ],
    [
      4,
      () => {
        const s = validStory();
        delete s[pick(['title', 'body', 'services', 'authorRole'])];
        return { text: JSON.stringify(s), valid: false };
      },
    ],
    [3, () => ({ text: JSON.stringify({ ...validStory(), [pick(['extra', 'id', 'moderation', 'published_at', 'toString', '__defineGetter__'])]: nastyValue() }), valid: false })],
    [3, () => ({ text: JSON.stringify(pick<unknown>([[], [validStory()], 'story', 1, null, true, [1, 2, 3], {}])), valid: false })],
    [4, () => ({ text: pick(BROKEN_JSON), valid: false })],
    [2, () => ({ text: JSON.stringify(validStory()).replace(/^\{/, pick(['{"__proto__":{"polluted":"yes"},', '{"constructor":{"prototype":{"polluted":"yes"}},'])), valid: false })],
    [1, () => ({ text: pick([DEEP_ARRAY, DEEP_OBJECT, `{"title":${DEEP_ARRAY}}`, `{"tags":${DEEP_OBJECT}}`]), valid: false })],
    [1, () => ({ text: pick(INVALID_UTF8), valid: false })],
    [0.3, () => ({ text: pick([HUGE_1MB, HUGE_3MB, NEAR_LIMIT]), valid: false })],
  ])();
}

function genericJson(fields: readonly string[]): string | Buffer {
  return weighted<() => string | Buffer>([
    [8, () => JSON.stringify(Object.fromEntries(fields.filter(() => chance(0.6)).map((f) => [f, chance(0.3) ? nastyValue() : nastyString()])))],
    [2, () => JSON.stringify(nastyValue())],
    [3, () => pick(BROKEN_JSON)],
    [1, () => pick([DEEP_ARRAY, DEEP_OBJECT])],
    [1, () => pick(INVALID_UTF8)],
    [0.2, () => pick([HUGE_1MB, HUGE_3MB])],
  ])();
}

// ---------------------------------------------------------------------------------------------
// URLs: path parameters, query strings and their encodings.

const BAD_PERCENT = ['%', '%zz', '%E0%A4%A', '%FF', '%C0%AF', '%ED%A0%80', '%00', '%%', '%2', '%u0041', '%F0%9F%98', '%C3%28'] as const;

function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    // A lone surrogate cannot be percent-encoded; send it as an invalid escape instead.
    return pick(BAD_PERCENT);
  }
}

function pathSegment(pool: readonly string[]): string {
  return weighted<() => string>([
    [4, () => (pool.length ? pick(pool) : crypto.randomUUID())],
    [2, () => '00000000-0000-4000-8000-000000000000'],
    [4, () => enc(nastyString().slice(0, 300))],
    [2, () => pick(BAD_PERCENT)],
    [1, () => `${pick(['a', 'RR8', ''])}${pick(BAD_PERCENT)}${pick(['', 'b'])}`],
    [1, () => 'a'.repeat(pick([63, 64, 65, 200, 201, 5_000]))],
    [1, () => pick(['..', '.', '%2e%2e', '%2F', '%5C', ';', ',', '*', '~', '@', ':', '$', '!', "'"])],
  ])();
}

const QUERY_KEYS = ['q', 'service', 'theme', 'tag', 'since', 'cursor', 'limit', 'next', 'q[]', 'q[a]', 'q[__proto__]', '__proto__', '__proto__[polluted]', 'constructor[prototype][polluted]', 'constructor', 'toString', 'hasOwnProperty', '', '%', 'a%zz', 'experienced'] as const;

function cursorValue(): string {
  const obj = pick<unknown>([
    { o: int(20_000) - 10 },
    { o: 1.5 },
    { o: '5' },
    { p: nastyString().slice(0, 60), i: nastyString().slice(0, 60) },
    { p: '2026-01-01T00:00:00.000Z', i: '\u0000' },
    { u: pick([0, 1, -1, 1e308]), s: nastyString().slice(0, 60), i: nastyString().slice(0, 60) },
    { u: '1', s: 5, i: null },
    [],
    null,
    'cursor',
    { __proto__: { p: 'x', i: 'y' } },
  ]);
  return weighted<() => string>([
    [3, () => Buffer.from(JSON.stringify(obj) ?? 'undefined').toString('base64url')],
    [1, () => Buffer.from(JSON.stringify(obj) ?? '').toString('base64')],
    [1, () => enc(nastyString().slice(0, 400))],
  ])();
}

function queryValue(key: string): string {
  if (key === 'cursor' && chance(0.6)) return cursorValue();
  if (key === 'limit' && chance(0.6)) return enc(pick(['0', '1', '100', '101', '-5', '1.5', '1e2', '0x10', 'NaN', '', ' 7 ', 'Infinity', '99999999999999999999']));
  if (key === 'since' && chance(0.5)) return enc(pick(['2026-01-31', 'yesterday', '0', '-1', '+275760-09-13', '+275760-09-14', '2026-02-30', '1970-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z']));
  return weighted<() => string>([
    [6, () => enc(nastyString().slice(0, pick([50, 120, 250, 2_000])))],
    [1, () => pick(BAD_PERCENT)],
    [1, () => `${enc(pick(NASTY))}${pick(BAD_PERCENT)}`],
    [1, () => ''],
    [1, () => nastyString().slice(0, 40).replace(/[#?]/g, '')],
  ])();
}

function queryString(): string {
  if (chance(0.1)) return '';
  if (chance(0.03)) return `?${'q=x&'.repeat(pick([500, 3_000]))}`;
  if (chance(0.03)) return `?q=${'a'.repeat(pick([201, 20_000, 200_000]))}`;
  const parts: string[] = [];
  for (let n = 1 + int(3); n > 0; n--) {
    const key = pick(QUERY_KEYS);
    const v = queryValue(key);
    parts.push(chance(0.05) ? key : `${key}=${v}`);
    if (chance(0.1)) parts.push(`${key}=${queryValue(key)}`);
  }
  return `?${parts.join(pick(['&', '&', '&', ';', '&&']))}`;
}

// ---------------------------------------------------------------------------------------------
// Headers.

interface Keys {
  moderator: string;
  leader: string;
}

function authHeader(keys: Keys): string | string[] | undefined {
  return weighted<() => string | string[] | undefined>([
    [9, () => `Bearer ${keys.moderator}`],
    [6, () => undefined],
    [1, () => `bearer ${keys.moderator}`],
    [1, () => `Bearer ${keys.leader}`],
    [1, () => `Bearer  ${keys.moderator}  `],
    [1, () => `Bearer ${keys.moderator}x`],
    [1, () => `Bearer ${keys.moderator.slice(0, -1)}`],
    [1, () => pick(['Bearer', 'Bearer ', '', ' ', 'Basic dXNlcjpwYXNz', 'Token abc', 'Bearer null', 'Bearer undefined', `Bearer ${'a'.repeat(10_000)}`, 'Bearer cv_\u0000', `Bearer ${keys.moderator}\u0000`, `Bearer ${keys.moderator} ${keys.moderator}`, `Bearer ${keys.moderator.replace(/^\w+_/, '')}`, 'Bearer %00', 'Bearer \uD800'])],
    [1, () => [`Bearer ${keys.moderator}`, `Bearer ${keys.moderator}`]],
  ])();
}

const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'APPLICATION/JSON', 'application/json;', 'application/json; charset="utf-8"; boundary=x', 'application/vnd.api+json', 'text/plain', 'text/json', 'application/xml', 'multipart/form-data; boundary=xyz', 'multipart/form-data', 'application/x-www-form-urlencoded', '*/*', '', ';', 'application/json, text/html', 'application/\u0000json', 'a'.repeat(2_000)] as const;

function addOddHeaders(h: Record<string, string | string[]>, payloadLength: number | undefined): void {
  if (chance(0.05)) h['content-length'] = payloadLength === undefined ? pick(['0', '10', '-1']) : pick([String(payloadLength + 1 + int(5)), String(Math.max(0, payloadLength - 1 - int(5))), '0', '-1', 'abc', '1e3', '99999999999', ' 12 ']);
  if (chance(0.03)) h['transfer-encoding'] = pick(['chunked', 'gzip', 'identity', 'chunked, chunked']);
  if (chance(0.03)) h['content-encoding'] = pick(['gzip', 'br', 'deflate', 'bogus']);
  if (chance(0.04)) h['x-request-id'] = pick(['ok-id-1', '', '../../x', 'a'.repeat(65), '\u0000', 'spaces are bad']);
  if (chance(0.04)) h['x-forwarded-for'] = pick(['1.2.3.4', 'not-an-ip', '::1, 10.0.0.1', '\u0000', '999.999.999.999', `${int(255)}.${int(255)}.${int(255)}.${int(255)}`]);
  if (chance(0.03)) h['accept'] = pick(['text/html', '*/*', 'application/json', '', 'text/html;q=0', 'a'.repeat(1_000)]);
  if (chance(0.03)) h['cookie'] = pick(['cv_session=garbage', 'cv_session=', 'cv_csrf=%%%', '=;=;', 'cv_session=s%3Aforged.sig', `cv_draft=${'a'.repeat(4_000)}`, 'cv_session=\u0000', '__proto__=x']);
  if (chance(0.02)) h['host'] = pick(['', 'evil.example', 'localhost:99999', '[::1', 'a'.repeat(500)]);
  if (chance(0.02)) h['last-event-id'] = nastyString().slice(0, 100);
}

// ---------------------------------------------------------------------------------------------
// Form bodies (application/x-www-form-urlencoded).

function formBody(fields: Record<string, string>, csrf: string | undefined): string {
  const pairs: Array<[string, string]> = [];
  if (csrf !== undefined) {
    const where = weighted<'body' | 'none' | 'wrong' | 'twice'>([
      [16, 'body'],
      [1, 'none'],
      [1, 'wrong'],
      [1, 'twice'],
    ]);
    if (where === 'body') pairs.push(['_csrf', enc(csrf)]);
    if (where === 'wrong') pairs.push(['_csrf', enc(pick(['', 'x', csrf.slice(1), `${csrf}x`, nastyString().slice(0, 50)]))]);
    if (where === 'twice') pairs.push(['_csrf', enc(csrf)], ['_csrf', enc(csrf)]);
  }
  for (const [k, v] of Object.entries(fields)) {
    if (chance(0.1)) continue;
    pairs.push([k, chance(0.35) ? queryValue(k) : enc(v)]);
    if (chance(0.06)) pairs.push([k, enc(v)]);
  }
  if (chance(0.15)) pairs.push([pick(['__proto__[polluted]', 'constructor[prototype][polluted]', '__proto__', 'constructor', 'website', 'title[]', 'action[a]', 'toString', '']), enc(nastyString().slice(0, 100))]);
  const text = pairs.map(([k, v]) => `${k}=${v}`).join('&');
  if (chance(0.02)) return `${text}&body=${'w'.repeat(pick([30_000, 1_100_000]))}`;
  return text;
}

// ---------------------------------------------------------------------------------------------

interface Spec {
  kind: string;
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  payload?: string | Buffer;
  /** A POST /api/v1/stories body that should be accepted. */
  validStory?: boolean;
  /** The draft jar the request used, if any, to keep its cookies up to date. */
  jar?: CookieJar;
}

interface Failure {
  kind: string;
  why: string;
  code: string;
  method: string;
  url: string;
  headers: string;
  body: string;
  status: number;
  response: string;
}

const excerpt = (v: string | Buffer | undefined, n = 240) => {
  if (v === undefined) return '';
  if (Buffer.isBuffer(v)) return `<${v.length} bytes, hex> ${v.subarray(0, n).toString('hex')}`;
  return v.length > n ? `${v.slice(0, n)}… (${v.length} chars)` : v;
};

let t: TestApp;
let keys: Keys;
let csrfJar: CookieJar;
let csrfToken: string;
let modJar: CookieJar;
let modCsrf: string;
let webhookId: string;
const drafts: Array<{ jar: CookieJar; csrf: string }> = [];
const storyIds: string[] = [];
let themes: string[] = [];

async function countStories(): Promise<number> {
  await checkTold(t.handle); // the stories told are stored first (and so are checked after the fuzz too)
  const row = await t.handle.db
    .selectFrom('stories')
    .select((eb) => eb.fn.countAll().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function newDraftJar(): Promise<{ jar: CookieJar; csrf: string }> {
  const jar = new CookieJar();
  await submitForm(t.app, jar, '/tell', '/tell/services', { action: 'add', code: 'RR813-W07' });
  await submitForm(t.app, jar, '/tell/story', '/tell/story', { title: 'Helpful staff on the ward', body: 'The staff on the ward were helpful and kind to my father all week.' });
  await submitForm(t.app, jar, '/tell/tags', '/tell/tags', { rating: '2' });
  const about = await submitForm(t.app, jar, '/tell/about', '/tell/about', { authorRole: 'patient' });
  expect(about.headers.location).toBe('/tell/check');
  const page = await t.app.inject({ url: '/tell/check', headers: { cookie: jar.header(), accept: 'text/html' } });
  expect(page.statusCode).toBe(200);
  return { jar, csrf: csrfFrom(page.body) };
}

beforeAll(async () => {
  t = await startTestApp({ STORY_RATE_LIMIT: '0' });
  await seedDemo(t.handle, { stories: 0 });
  const userId = async (email: string) => (await t.handle.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
  keys = { moderator: await createApiKey(t.handle.db, await userId('moderator@demo.carevoice')), leader: await createApiKey(t.handle.db, await userId('leader@demo.carevoice')) };
  themes = themeLabels();

  // A CSRF cookie and token for anonymous forms (sign-in), and a signed-in moderator for the moderation form.
  csrfJar = new CookieJar();
  const signInPage = await t.app.inject({ url: '/sign-in', headers: { accept: 'text/html' } });
  csrfJar.take(signInPage);
  csrfToken = csrfFrom(signInPage.body);
  modJar = new CookieJar();
  const signedIn = await submitForm(t.app, modJar, '/sign-in', '/sign-in', { email: 'moderator@demo.carevoice', password: DEMO_PASSWORD });
  expect(signedIn.statusCode).toBe(303);
  const queuePage = await t.app.inject({ url: '/moderation', headers: { cookie: modJar.header(), accept: 'text/html' } });
  expect(queuePage.statusCode).toBe(200);
  const tokenPage = await t.app.inject({ url: '/sign-in', headers: { cookie: modJar.header(), accept: 'text/html' } });
  modCsrf = csrfFrom(tokenPage.body);

  // A webhook channel, so signed-webhook requests meet a real channel (and a wrong signature).
  webhookId = (await addChannel(t.handle, secretsKey(t.config), 'RR8', { kind: 'webhook' }, null)).id;

  // Drafts of "tell your story" that are ready to send, so /tell/check can really create stories.
  for (let i = 0; i < DRAFT_JARS; i++) drafts.push(await newDraftJar());

  // A few stories, some published, so reads, cursors and decisions have something to find.
  for (let i = 0; i < 6; i++) {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/stories', payload: validStory() });
    expect(res.statusCode).toBe(201);
    storyIds.push(res.json<{ id: string }>().id);
  }
  await checkTold(t.handle);
  for (const id of storyIds.slice(0, 3)) {
    const res = await t.app.inject({ method: 'POST', url: `/api/v1/moderation/stories/${id}/decision`, payload: { action: 'publish' }, headers: { authorization: `Bearer ${keys.moderator}` } });
    expect(res.statusCode).toBe(200);
  }
}, 60_000);
afterAll(async () => t?.close());

function jsonPost(kind: string, url: string, payload: string | Buffer, auth: boolean): Spec {
  const headers: Record<string, string | string[]> = {};
  if (auth) {
    const a = authHeader(keys);
    if (a !== undefined) headers.authorization = a;
  }
  if (chance(0.9)) headers['content-type'] = chance(0.85) ? 'application/json' : pick(JSON_TYPES);
  addOddHeaders(headers, Buffer.isBuffer(payload) ? payload.length : Buffer.byteLength(payload));
  return { kind, method: 'POST', url, headers, payload: chance(0.03) ? undefined : payload };
}

function apiGet(kind: string, url: string): Spec {
  const headers: Record<string, string | string[]> = {};
  const a = authHeader(keys);
  if (a !== undefined) headers.authorization = a;
  addOddHeaders(headers, undefined);
  const method = weighted([
    [30, 'GET'],
    [1, 'HEAD'],
    [1, 'OPTIONS'],
  ] as const);
  return { kind, method, url, headers };
}

function formPost(kind: string, url: string, fields: Record<string, string>, jar: CookieJar | undefined, csrf: string | undefined): Spec {
  const headers: Record<string, string | string[]> = {};
  if (jar && chance(0.95)) headers.cookie = jar.header();
  if (chance(0.6)) headers.accept = 'text/html';
  let payload: string | Buffer;
  if (chance(0.8)) {
    headers['content-type'] = chance(0.9) ? 'application/x-www-form-urlencoded' : pick(['application/x-www-form-urlencoded; charset=latin1', 'text/plain', 'multipart/form-data; boundary=x', '']);
    payload = formBody(fields, csrf);
  } else {
    headers['content-type'] = 'application/json';
    payload = chance(0.5) && csrf !== undefined ? JSON.stringify({ _csrf: csrf, ...Object.fromEntries(Object.keys(fields).map((k) => [k, chance(0.5) ? nastyValue() : fields[k]])) }) : genericJson(['_csrf', ...Object.keys(fields)]);
  }
  if (csrf !== undefined && chance(0.1)) headers[pick(['x-csrf-token', 'csrf-token', 'xsrf-token'])] = chance(0.7) ? csrf : nastyString().slice(0, 80).replace(/[^\x20-\x7e]/g, '');
  if (headers.authorization === undefined && chance(0.1)) headers.authorization = pick([`Bearer ${keys.moderator}`, 'Bearer nope']);
  addOddHeaders(headers, Buffer.byteLength(payload));
  // Only a request that carried the jar's own cookies may update them (a forged cookie gets a fresh CSRF secret).
  return { kind, method: 'POST', url, headers, payload, jar: jar && headers.cookie === jar.header() ? jar : undefined };
}

function generate(): Spec {
  const kind = weighted([
    [8, 'services.list'],
    [5, 'services.get'],
    [10, 'stories.list'],
    [5, 'stories.get'],
    [20, 'stories.post'],
    [5, 'stories.themes'],
    [5, 'moderation.queue'],
    [8, 'moderation.decision'],
    [3, 'me'],
    [2, 'healthz'],
    [3, 'api.wrong'],
    [2, 'form.sign-in'],
    [5, 'form.tell-services'],
    [5, 'form.tell-story'],
    [2, 'form.tell-about'],
    [3, 'form.tell-check'],
    [5, 'form.moderation-decision'],
    [3, 'mentions.list'],
    [2, 'live'],
    [4, 'webhook.post'],
  ] as const);
  switch (kind) {
    case 'services.list':
      return apiGet(kind, `/api/v1/services${chance(0.5) ? `?q=${queryValue('q')}${chance(0.3) ? `&cursor=${cursorValue()}` : ''}${chance(0.3) ? `&limit=${queryValue('limit')}` : ''}` : queryString()}`);
    case 'services.get':
      return apiGet(kind, `/api/v1/services/${chance(0.25) ? pick(SERVICE_CODES) : pathSegment([])}${chance(0.2) ? queryString() : ''}`);
    case 'stories.list':
      return apiGet(kind, `/api/v1/stories${queryString()}`);
    case 'stories.get':
      return apiGet(kind, `/api/v1/stories/${pathSegment(storyIds)}${chance(0.1) ? queryString() : ''}`);
    case 'stories.post': {
      const { text, valid } = storyJson();
      const spec = jsonPost(kind, '/api/v1/stories', text, chance(0.5));
      if (chance(0.2)) spec.headers['idempotency-key'] = weighted<() => string | string[]>([
        [4, () => `fuzz-key-${int(40)}`],
        [1, () => pick(['', 'short', 'a'.repeat(101), '../../etc', 'white space key', 'ключ-ключ-ключ', 'abc\u0000defgh', "' OR 1=1 --"])],
        [1, () => ['fuzz-key-1', 'fuzz-key-2']],
      ])();
      spec.validStory = valid;
      return spec;
    }
    case 'stories.themes': {
      const body = chance(0.5) ? JSON.stringify({ themes: Array.from({ length: int(4) }, () => (chance(0.6) && themes.length ? pick(themes) : nastyString())) }) : genericJson(['themes']);
      return jsonPost(kind, `/api/v1/stories/${pathSegment(storyIds)}/themes${chance(0.1) ? queryString() : ''}`, body, true);
    }
    case 'moderation.queue':
      return apiGet(kind, `/api/v1/moderation/queue${chance(0.5) ? `?cursor=${cursorValue()}${chance(0.3) ? `&limit=${queryValue('limit')}` : ''}` : queryString()}`);
    case 'moderation.decision': {
      const body = weighted<() => string | Buffer>([
        [4, () => JSON.stringify({ action: pick(['publish', 'reject']), ...(chance(0.5) ? { criticality: chance(0.5) ? int(6) : nastyValue() } : {}), ...(chance(0.5) ? { reason: weighted<() => unknown>([[2, () => pick(['advert', 'abuse', 'duplicate'])], [1, () => pick(PROTO_KEYS)], [2, () => nastyValue()]])() } : {}), ...(chance(0.3) ? { title: nastyValue() } : {}), ...(chance(0.3) ? { body: chance(0.5) ? `Edited by the moderator ${nastyString()} with enough text.` : nastyValue() } : {}) })],
        [3, () => genericJson(['action', 'criticality', 'title', 'body', 'reason'])],
      ])();
      return jsonPost(kind, `/api/v1/moderation/stories/${pathSegment(storyIds)}/decision`, body, true);
    }
    case 'me':
      return apiGet(kind, `/api/v1/me${chance(0.2) ? queryString() : ''}`);
    case 'mentions.list':
      return apiGet(kind, `/api/v1/mentions${chance(0.5) ? `?org=${queryValue('org')}${chance(0.5) ? `&cursor=${cursorValue()}` : ''}` : queryString()}`);
    case 'live': {
      // Always with a service no organisation has (or a malformed one): a valid request would open
      // a stream that never ends, which inject cannot wait for. The stream itself is tested in listening.test.ts.
      const q = queryString();
      return apiGet(kind, `/api/v1/live${q ? `${q}&` : '?'}service=${chance(0.5) ? 'NO-SUCH-SERVICE' : queryValue('service')}x`);
    }
    case 'webhook.post': {
      const spec = jsonPost(kind, `/api/v1/channels/${chance(0.6) ? webhookId : pathSegment([webhookId])}/webhook`, chance(0.5) ? genericJson(['id', 'text', 'author', 'url', 'tags', 'deleted', 'postedAt']) : JSON.stringify({ id: nastyString().slice(0, 300), text: nastyString() }), false);
      if (chance(0.6)) spec.headers['x-carevoice-timestamp'] = chance(0.5) ? String(Math.floor(Date.now() / 1000)) : nastyString().slice(0, 50);
      if (chance(0.6)) spec.headers['x-carevoice-signature'] = chance(0.5) ? `sha256=${'ab'.repeat(32)}` : nastyString().slice(0, 200);
      return spec;
    }
    case 'healthz':
      return { ...apiGet(kind, `/healthz${chance(0.5) ? queryString() : ''}`), method: 'GET' };
    case 'api.wrong': {
      const url = pick(['/api/v1/services', `/api/v1/services/${pick(SERVICE_CODES)}`, '/api/v1/stories', `/api/v1/stories/${pathSegment(storyIds)}`, '/api/v1/me', '/api/v1/moderation/queue', '/api/v1/nope', '/api/v2/stories', '/api/', '/api/v1/stories/x/themes/y', `/api/v1/${pick(BAD_PERCENT)}`, '/api/v1/stories//', '/api/v1/../../etc/passwd', '/API/V1/STORIES', '/api/v1/stories?', '/api/v1/stories#frag']);
      const spec = jsonPost(kind, url, genericJson(['title']), true);
      return { ...spec, method: pick(['PUT', 'DELETE', 'PATCH', 'POST', 'GET', 'TRACE', 'OPTIONS']) };
    }
    case 'form.sign-in': {
      const spec = formPost(kind, '/sign-in', { email: pick(['moderator@demo.carevoice', 'nobody@example.org', 'MODERATOR@DEMO.CAREVOICE ', nastyString().slice(0, 400)]), password: pick(['wrong', '', nastyString().slice(0, 300)]), next: pick(['/staff', '//evil.example', '/\\evil', 'https://evil.example', nastyString().slice(0, 600)]) }, chance(0.9) ? csrfJar : undefined, csrfToken);
      // Most attempts come from one address and meet the rate limit; a few from spoofed ones reach the password check.
      if (chance(0.25)) spec.headers['x-forwarded-for'] = `10.${int(255)}.${int(255)}.${1 + int(254)}`;
      return spec;
    }
    case 'form.tell-services': {
      const d = pick(drafts);
      return formPost(kind, '/tell/services', { action: pick(['add', 'remove', 'continue', 'add', 'nope']), code: chance(0.4) ? pick(SERVICE_CODES) : nastyString().slice(0, 200) }, chance(0.9) ? d.jar : undefined, chance(0.9) ? d.csrf : undefined);
    }
    case 'form.tell-story': {
      const d = pick(drafts);
      const fields: Record<string, string> = chance(0.4)
        ? { title: 'A fine title for my story', body: 'Everything went well and the nurses were kind to us all.' }
        : { title: nastyString().slice(0, 200), body: nastyString() };
      if (chance(0.1)) fields.website = 'http://spam.example';
      return formPost(kind, '/tell/story', fields, chance(0.9) ? d.jar : undefined, d.csrf);
    }
    case 'form.tell-about': {
      const d = pick(drafts);
      return formPost(kind, '/tell/about', { authorRole: chance(0.8) ? pick(ROLES) : nastyString().slice(0, 50), pseudonym: chance(0.5) ? '' : nastyString().slice(0, 60), email: chance(0.5) ? '' : nastyString().slice(0, 300) }, d.jar, d.csrf);
    }
    case 'form.tell-check': {
      const d = pick(drafts);
      return formPost(kind, '/tell/check', {}, chance(0.9) ? d.jar : undefined, d.csrf);
    }
    case 'form.moderation-decision': {
      const fields: Record<string, string> = { action: pick(['publish', 'reject', 'nope', '']), criticality: pick(['0', '3', '5', '6', '-1', 'abc', '']), title: chance(0.5) ? 'Moderated title' : nastyString().slice(0, 200), body: chance(0.5) ? 'A moderated body that is long enough to keep.' : nastyString(), reason: pick(['advert', 'other', '', 'made up', ...PROTO_KEYS]), otherReason: nastyString().slice(0, 600) };
      return formPost(kind, `/moderation/stories/${pathSegment(storyIds)}/decision`, fields, chance(0.9) ? modJar : undefined, chance(0.9) ? modCsrf : undefined);
    }
  }
}

/** The path the app sees, normalised as light-my-request does, to tell API routes from pages. */
function pathOf(url: string): string {
  try {
    return new URL(url.startsWith('//') ? `http://localhost${url}` : url, 'http://localhost').pathname;
  } catch {
    return url;
  }
}

describe(`fuzzing every route on ${TEST_DB}`, () => {
  it(`survives ${REQUESTS} malformed and hostile requests (seed ${SEED})`, async () => {
    rnd = mulberry32(SEED);
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const crashes: unknown[] = [];
    const onCrash = (err: unknown) => crashes.push(err);
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);

    const failures: Failure[] = [];
    const statuses = new Map<string, number>();
    const created = new Set<string>();
    const sentDrafts = new Set<string>();
    const storiesBefore = await countStories();
    const started = Date.now();

    type Reply = Awaited<ReturnType<typeof t.app.inject>>;
    const send = async (spec: Spec): Promise<Reply | Error> => {
      try {
        return await t.app.inject({ method: spec.method as 'GET', url: spec.url, headers: spec.headers, ...(spec.payload !== undefined ? { payload: spec.payload } : {}) });
      } catch (err) {
        return err as Error;
      }
    };

    try {
      for (let done = 0; done < REQUESTS; ) {
        // A batch is generated first (so the run does not depend on timing), then sent in lanes:
        // requests sharing a cookie jar or an Idempotency-Key go one after another, the rest at once.
        const batch = Array.from({ length: Math.min(BATCH, REQUESTS - done) }, () => {
          const spec = generate();
          return { spec, draftBefore: spec.jar?.get('cv_draft') };
        });
        const lanes = new Map<unknown, Array<(typeof batch)[number]>>();
        batch.forEach((item, k) => {
          const idem = item.spec.headers['idempotency-key'];
          const lane = item.spec.jar ?? (typeof idem === 'string' ? `idem:${idem}` : k);
          lanes.set(lane, [...(lanes.get(lane) ?? []), item]);
        });
        const replies = new Map<Spec, Reply | Error>();
        await Promise.all(
          [...lanes.values()].map(async (lane) => {
            for (const { spec } of lane) {
              const res = await send(spec);
              if (!(res instanceof Error)) spec.jar?.take(res);
              replies.set(spec, res);
            }
          }),
        );

        for (const { spec, draftBefore } of batch) {
          const res = replies.get(spec)!;
          const record = (why: string, status: number, response: string, code = '') =>
            failures.push({ kind: spec.kind, why, code, method: spec.method, url: excerpt(spec.url, 300), headers: excerpt(JSON.stringify(spec.headers), 600), body: excerpt(spec.payload), status, response: excerpt(response, 400) });
          if (res instanceof Error) {
            record(`inject threw: ${res.stack ?? String(res)}`, 0, '');
            continue;
          }
          const key = `${spec.kind} ${res.statusCode}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          let body: unknown;
          try {
            body = JSON.parse(res.body);
          } catch {
            body = undefined;
          }
          const error = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
          const code = typeof error?.code === 'string' ? error.code : '';

          if (res.statusCode >= 500) record('5xx', res.statusCode, res.body, code);
          else if (pathOf(spec.url).startsWith('/api/') && res.statusCode >= 400 && spec.method !== 'HEAD') {
            if (!String(res.headers['content-type'] ?? '').startsWith('application/json') || typeof error?.code !== 'string' || typeof error.message !== 'string') record('4xx on /api/ without {error:{code,message}}', res.statusCode, res.body, code);
          }

          if (spec.kind === 'stories.post' && res.statusCode === 201) {
            const id = (body as { id: string }).id;
            created.add(id);
            if (!storyIds.includes(id)) storyIds.push(id);
          }
          if (spec.kind === 'stories.post' && spec.validStory && spec.headers['content-type'] === 'application/json' && spec.payload !== undefined && !spec.headers['content-length'] && !spec.headers['transfer-encoding'] && !spec.headers['content-encoding']) {
            const auth = spec.headers.authorization;
            const idem = spec.headers['idempotency-key'];
            const goodIdem = idem === undefined || (typeof idem === 'string' && /^[\w-]{8,100}$/.test(idem));
            if ((auth === undefined || auth === `Bearer ${keys.moderator}`) && goodIdem && res.statusCode !== 201) record('a valid story was refused', res.statusCode, res.body, code);
          }
          if (spec.kind === 'form.tell-check' && draftBefore && res.statusCode === 303 && res.headers.location === '/tell/done') sentDrafts.add(draftBefore);
        }

        const before = done;
        done += batch.length;
        if (Math.floor(done / 1_000) > Math.floor(before / 1_000)) {
          const health = await t.app.inject({ url: '/healthz' });
          if (health.statusCode !== 200) failures.push({ kind: 'healthz', why: `healthz after ${done} requests`, code: '', method: 'GET', url: '/healthz', headers: '', body: '', status: health.statusCode, response: health.body });
        }
      }
    } finally {
      process.off('uncaughtException', onCrash);
      process.off('unhandledRejection', onCrash);
    }

    const seconds = (Date.now() - started) / 1000;
    const summary = [...statuses].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k}: ${n}`);
    console.log(`fuzz on ${TEST_DB}: ${REQUESTS} requests in ${seconds.toFixed(1)} s (seed ${SEED}); ${created.size} stories by the API, ${sentDrafts.size} by the form\n${summary.join('\n')}`);

    // Group failures so a systematic bug is one line, with a few examples each.
    const groups = new Map<string, { count: number; examples: Failure[] }>();
    for (const f of failures) {
      const g = `${f.kind} ${f.why.split('\n')[0]} ${f.status} ${f.code}`.trim();
      const entry = groups.get(g) ?? { count: 0, examples: [] };
      entry.count++;
      if (entry.examples.length < 3) entry.examples.push(f);
      groups.set(g, entry);
    }
    if (groups.size) console.log(`FUZZ FAILURES (seed ${SEED}, ${TEST_DB}):\n${JSON.stringify(Object.fromEntries(groups), null, 2)}`);

    // Soft, so the checks below still run and report when some requests broke the app.
    expect.soft(crashes, 'uncaught exceptions or unhandled rejections').toEqual([]);
    expect.soft([...groups].map(([g, { count }]) => `${g} ×${count}`), 'requests that broke the app (examples above)').toEqual([]);

    const health = await t.app.inject({ url: '/healthz' });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ status: 'ok' });
    expect(await countStories()).toBe(storiesBefore + created.size + sentDrafts.size);

    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    for (const k of ['polluted', 'isAdmin', 'p', 'i', 'o']) expect(k in {}, `Object.prototype.${k}`).toBe(false);
  });
});
