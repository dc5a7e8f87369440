import crypto from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMail } from '../test/smtp.ts';
import { openPage, signIn as signInAt, startBrowserAppWithMail, until } from './browser.ts';

// Cross-site scripting, end to end in real Chromium: payloads go into every field a person can fill
// in (storyteller, moderator, responder, organisation admin, the author's reply link, search boxes
// and query parameters) and into a social media post from outside (a signed webhook), through the
// real forms and the API, through moderation, and are then looked at on every page that shows them,
// the live wall's browser-drawn cards included. Nothing may execute; the text must show as typed.
//
// Two layers are checked separately. Escaping: pages are opened in contexts with CSP bypassed, so
// a missed escape really runs the payload (window.__xss gets set) instead of being quietly blocked.
// CSP: the same pages are opened again with CSP on, listening for `securitypolicyviolation` and the
// console, which must stay silent because nothing should reach the browser as markup at all.

declare global {
  interface Window {
    __xss?: unknown;
    __csp?: string[];
  }
}

/** Each payload sets window.__xss to its own number if it ever runs. */
const P = {
  script: '<script>window.__xss=1</script>',
  img: '<img src=x onerror="window.__xss=2">',
  svg: '"><svg onload=window.__xss=3>',
  js: 'javascript:window.__xss=4',
  tpl: "{{constructor.constructor('window.__xss=5')()}}",
  textarea: '</textarea><script>window.__xss=6</script>',
  // No closing '>', so the markup check on stories lets it through: only escaping stops it. Printed
  // raw, the next '>' on the page (of a closing tag) would end it and the handler would run.
  unclosed: '<img src=x onerror=window.__xss=7//',
  // Must show as typed: decoding it once too often would turn it into markup.
  entity: '&lt;script&gt;window.__xss=8&lt;/script&gt;',
  // Server-side template injection: rendered as a Nunjucks template this would show 1337.
  ssti: '{{7*191}}',
} as const;

let app: Awaited<ReturnType<typeof startBrowserAppWithMail>>;
let browser: Browser;
let inbox: ReceivedMail[];

beforeAll(async () => {
  app = await startBrowserAppWithMail();
  ({ browser, inbox } = app);
});
afterAll(async () => app?.close());

const problems: string[] = [];
const seen = { dialogs: [] as string[], console: [] as string[], pageErrors: [] as string[], csp: [] as string[] };
let pagesChecked = 0;

/** Records every CSP violation in the page itself, from the first byte, so none is missed between navigations. */
function recordCspViolations() {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__csp!.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}: ${e.sample}`));
}

function watch(page: Page) {
  page.on('dialog', (d) => {
    seen.dialogs.push(`${page.url()}: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') seen.console.push(`${page.url()}: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => seen.pageErrors.push(`${page.url()}: ${e.message}`));
}

/**
 * The NHS.UK stylesheet asks for its fonts from assets.nhs.uk; on a machine without network every few
 * page loads would wait 5 s for that name to fail to resolve. Failing them at once changes nothing
 * this test looks at (the fonts fall back) and keeps its hundred-odd page loads quick.
 */
async function offline(target: BrowserContext | Page) {
  await target.route('https://assets.nhs.uk/**', (route) => route.abort());
}

/** A context with CSP bypassed: the escaping layer is tested on its own, without CSP's safety net. */
async function escapingContext(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ bypassCSP: true });
  // A step that cannot happen fails here with its own message, well inside the test's timeout.
  context.setDefaultTimeout(10_000);
  await offline(context);
  await context.addInitScript(recordCspViolations);
  const page = await context.newPage();
  watch(page);
  return { context, page };
}

/**
 * Looks at the page as it is now: nothing ran, nothing was injected as markup, no CSP violation, and
 * each expected text shows as text (in the page or in a form field's value).
 */
async function inspect(page: Page, label: string, shown: readonly string[] = []) {
  pagesChecked++;
  const state = await page.evaluate((texts) => {
    const injected: string[] = [];
    for (const el of Array.from(document.querySelectorAll('*'))) {
      for (const a of Array.from(el.attributes)) {
        if (/^on/i.test(a.name)) injected.push(`<${el.localName} ${a.name}="${a.value}">`);
        if (/^(href|src|action|formaction|xlink:href)$/i.test(a.name) && /^\s*javascript:/i.test(a.value)) injected.push(`<${el.localName} ${a.name}="${a.value}">`);
      }
      // The layout's own inline script carries the CSP nonce; an injected one cannot know it.
      if (el instanceof HTMLScriptElement && !el.src && !el.nonce) injected.push(`<script>${el.textContent}</script>`);
    }
    const fieldValues = Array.from(document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')).map((f) => f.value);
    const text = document.body.textContent ?? '';
    const missing = texts.filter((t) => !text.includes(t) && !fieldValues.some((v) => v.includes(t)));
    return { xss: window.__xss, injected, csp: window.__csp ?? [], missing };
  }, shown);
  if (state.xss !== undefined) problems.push(`${label}: payload ${String(state.xss)} ran`);
  if (state.injected.length) problems.push(`${label}: injected ${state.injected.join(' ')}`);
  if (state.missing.length) problems.push(`${label}: not shown as text: ${state.missing.join(' | ')}`);
  for (const v of state.csp) seen.csp.push(`${label}: ${v}`);
}

const signIn = (page: Page, email: string) => signInAt(page, app.url, email, '/staff');

async function tellByApi(story: Record<string, unknown>) {
  const res = await fetch(`${app.url}/api/v1/stories`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ services: ['RR813-W07'], authorRole: 'patient', ...story }) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as { id?: string; error?: { code: string } } };
}

/** A post sent to a signed webhook channel, as another system would: HMAC-SHA256 of "<timestamp>.<body>". */
async function postMention(channel: { url: string; key: string }, post: Record<string, unknown>) {
  const body = JSON.stringify(post);
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = crypto.createHmac('sha256', channel.key).update(`${ts}.${body}`).digest('hex');
  const res = await fetch(channel.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-carevoice-timestamp': ts, 'x-carevoice-signature': `sha256=${sig}` }, body });
  return { status: res.status, body: (await res.json()) as { id?: string } };
}

const lines = (...parts: string[]) => parts.join('\n');

describe('XSS payloads in every text field, in Chromium', () => {
  it('are refused or shown as text, never run, on public and staff pages', async () => {
    const started = performance.now();
    const teller = await escapingContext();
    const moderator = await escapingContext();
    const responder = await escapingContext();
    const admin = await escapingContext();
    const fields = new Set<string>();
    const refusals = new Set<string>();

    // The responder watches the ward first, so publishing the stories notifies them in Carevoice.
    await signIn(responder.page, 'responder@demo.carevoice');
    await responder.page.goto(`${app.url}/staff/alerts`);
    await responder.page.fill('#service', P.svg);
    await responder.page.check('#delivery-in_app');
    await responder.page.click('main button:has-text("Watch")');
    await expect(responder.page.locator('.nhsuk-error-summary').textContent()).resolves.toContain('There is a problem');
    await inspect(responder.page, 'alerts form re-shown', [P.svg]);
    refusals.add('alert service code');
    await responder.page.fill('#service', 'RR813-W07');
    await responder.page.click('main button:has-text("Watch")');
    await responder.page.waitForURL(/\/staff\/alerts$/);

    // Story A, told through the question pages. Markup in the title and body is refused with the
    // error beside the field and what was typed kept in the field, escaped.
    const t = teller.page;
    await t.goto(`${app.url}/tell?q=Ward7LGI`);
    await t.click('button:has-text("Add")');
    await t.click('button:has-text("Continue")');
    await t.waitForURL(/\/tell\/story$/);
    await t.fill('#title', P.svg);
    await t.fill('#body', P.textarea);
    await t.click('button:has-text("Continue")');
    const tellErrors = await t.locator('.nhsuk-error-summary').textContent();
    expect(tellErrors).toContain('must not contain HTML tags');
    expect(tellErrors).toContain('Your story must not contain HTML tags');
    await expect(t.inputValue('#title')).resolves.toBe(P.svg);
    await expect(t.inputValue('#body')).resolves.toBe(P.textarea);
    await inspect(t, 'tell: title and body refused', [P.svg, P.textarea]);
    refusals.add('story title (web)').add('story body (web)');
    const titleA = `Xss-A1 ${P.tpl} ${P.unclosed}`;
    const bodyA = lines('The night staff on Ward 7 were kind to us.', P.js, P.unclosed, P.entity, P.ssti);
    await t.fill('#title', titleA);
    await t.fill('#body', bodyA);
    await t.click('button:has-text("Continue")');
    await t.waitForURL(/\/tell\/tags$/);
    await t.check('input[name=good][value="Kindness and compassion"]');
    await t.click('button:has-text("Continue")');
    await t.waitForURL(/\/tell\/about$/);
    // A pseudonym is not checked for markup (only for names, ages and contact details): it must be escaped wherever it shows.
    await t.check('#authorRole');
    await t.fill('#pseudonym', P.img);
    await t.fill('#email', `${P.svg}@example.org`);
    await t.click('button:has-text("Continue")');
    await expect(t.locator('.nhsuk-error-summary').textContent()).resolves.toContain('Enter an email address');
    await inspect(t, 'tell: bad email re-shown', [P.img, `${P.svg}@example.org`]);
    refusals.add('email (web)');
    await t.fill('#email', '');
    await t.click('button:has-text("Continue")');
    await t.waitForURL(/\/tell\/check$/);
    await inspect(t, 'tell: check your answers', [titleA, P.js, P.entity, P.ssti, P.img]);
    await t.click('button:has-text("Send your story")');
    await t.waitForURL(/\/tell\/done$/);
    fields.add('story title').add('story body').add('pseudonym');

    // Stories B, C and D through the API; markup and unknown tags are refused with JSON, never HTML.
    for (const [what, story, code] of [
      ['title', { title: P.script, body: 'A long enough story body for the check.' }, 'invalid_story'],
      ['body', { title: 'Xss refused body', body: `A long enough story body ${P.img}` }, 'invalid_story'],
      ['tags', { title: 'Xss refused tags', body: 'A long enough story body for the check.', tags: [P.script] }, 'unknown_tag'],
    ] as const) {
      const r = await tellByApi(story);
      expect([what, r.status, r.body.error?.code, r.type]).toEqual([what, 400, code, expect.stringContaining('application/json')]);
      refusals.add(`story ${what} (API)`);
    }
    const titleB = `Xss-B2 ${P.entity}`;
    const bodyB = lines('The cardiology nurses explained everything clearly.', P.tpl, P.js, P.ssti);
    const b = await tellByApi({ title: titleB, body: bodyB, pseudonym: P.script, email: 'b-author@example.org', tags: { good: ['Kindness and compassion'] } });
    const c = await tellByApi({ title: 'Xss-C3 a story to reject', body: 'This story will be rejected by the moderator with a reason.' });
    const titleD = `Xss-D4 ${P.unclosed}`;
    const d = await tellByApi({ title: titleD, body: lines('Still waiting in the moderation queue.', P.js), pseudonym: P.svg });
    expect([b.status, c.status, d.status]).toEqual([201, 201, 201]);
    const [idB, idC, idD] = [b.body.id!, c.body.id!, d.body.id!];
    fields.add('story title (API)').add('pseudonym (API)');

    // The moderator: the queue, a refused edit, a published edit, a rejection with a reason.
    const m = moderator.page;
    await signIn(m, 'moderator@demo.carevoice');
    await m.goto(`${app.url}/moderation`);
    await inspect(m, 'moderation queue', [titleA, titleB, titleD]);
    await m.click('a:has-text("Xss-A1")');
    await m.waitForURL(/\/moderation\/stories\//);
    const idA = m.url().split('/').pop()!;
    await inspect(m, 'moderation: story A', [titleA, P.js, P.unclosed, P.entity, P.ssti, P.img]);
    await m.fill('#title', P.script);
    await m.check('#criticality-1');
    await m.click('button:has-text("Publish story")');
    await expect(m.locator('.nhsuk-error-summary').textContent()).resolves.toContain('must not contain HTML tags');
    await expect(m.inputValue('#title')).resolves.toBe(P.script);
    await inspect(m, 'moderation: edited title refused', [P.script]);
    refusals.add('moderator edited title');
    const editedTitleA = `Xss-A1 ${P.tpl} ${P.js}`;
    const editedBodyA = lines((await m.inputValue('#body')).trim(), `Edited by the moderator ${P.unclosed}`);
    await m.fill('#title', editedTitleA);
    await m.fill('#body', editedBodyA);
    await m.check('#criticality-1');
    await m.click('button:has-text("Publish story")');
    await m.waitForURL(/\/moderation\?done=/);
    fields.add('moderator edited title').add('moderator edited body');
    await m.goto(`${app.url}/moderation/stories/${idB}`);
    await inspect(m, 'moderation: story B', [titleB, P.tpl, P.js, P.ssti, P.script]);
    await m.check('#criticality-1');
    await m.click('button:has-text("Publish story")');
    await m.waitForURL(/\/moderation\?done=/);
    const reason = `${P.script} ${P.img} ${P.js}`;
    await m.goto(`${app.url}/moderation/stories/${idC}`);
    await m.check('#reason-other');
    await m.fill('#otherReason', reason);
    await m.click('button:has-text("Reject story")');
    await m.waitForURL(/\/moderation\?done=/);
    fields.add('rejection reason');

    // The organisation admin: a response template (its text refuses markup, its name does not).
    const a = admin.page;
    await signIn(a, 'trust.admin@demo.carevoice');
    await a.goto(`${app.url}/staff/organisations/RR8`);
    await a.fill('#template-name', P.img);
    await a.fill('#template-body', P.script);
    await a.click('button:has-text("Add template")');
    await a.waitForURL(/\/templates$/);
    await expect(a.locator('main').textContent()).resolves.toContain('must not contain HTML tags');
    await inspect(a, 'template text refused');
    refusals.add('template text');
    await a.goto(`${app.url}/staff/organisations/RR8`);
    const templateBody = `Thank you for telling us. ${P.tpl} ${P.js}`;
    await a.fill('#template-name', P.img);
    await a.fill('#template-body', templateBody);
    await a.click('button:has-text("Add template")');
    await a.waitForURL(/\/staff\/organisations\/RR8/);
    fields.add('template name').add('template text');

    // Social media listening: a webhook channel (its name takes any text), then a post from outside
    // with every payload in it, an author name with markup and a javascript: address for the post.
    await a.goto(`${app.url}/staff/organisations/RR8/channels`);
    await a.selectOption('#kind', 'webhook');
    await a.fill('#name', P.img);
    await a.click('button:has-text("Add the channel")');
    const hookUrl = (await a.locator('main code').first().textContent())!;
    const channel = { url: hookUrl.replace(/^https?:\/\/[^/]+/, app.url), key: (await a.locator('code.cv-secret').textContent())!.trim() };
    await inspect(a, 'webhook channel added', [P.img]);
    fields.add('channel name');
    const mentionText = lines('Lovely night staff #Ward7LGI', P.script, P.img, P.svg, P.textarea, P.unclosed, P.entity, P.tpl, P.ssti);
    // A post whose address is not a web address is refused whole, and nothing is stored.
    const jsAddress = await postMention(channel, { id: 'xss-post-0', text: mentionText, author: P.script, url: P.js, tags: ['Ward7LGI'] });
    expect(jsAddress.status).toBe(400);
    refusals.add('mention address (webhook)');
    const mention = await postMention(channel, { id: 'xss-post-1', text: mentionText, author: P.script, url: 'https://social.example/@someone/1', tags: ['Ward7LGI'] });
    expect(mention.status).toBe(201);
    const idM = mention.body.id!;
    fields.add('mention text (webhook)').add('mention author (webhook)');

    const r = responder.page;
    const note = `${P.script} ${P.img} ${P.textarea}`;
    await r.goto(`${app.url}/staff/stories/${idA}`);
    await r.fill('#note', note);
    await r.click('button:has-text("Add note")');
    await r.waitForURL(/#notes$/);
    fields.add('internal note');
    await r.goto(`${app.url}/stories/${idA}#respond`);
    await r.click(`a:has-text('window.__xss=2')`); // the template's name is the link
    await expect(r.inputValue('#response-body')).resolves.toBe(templateBody);
    await inspect(r, 'story A with a template chosen', [P.img, templateBody]);
    await r.fill('#response-body', P.textarea);
    await r.check('#change-made');
    await r.fill('#changeDescription', `${P.svg} and more words to be long enough`);
    await r.click('button:has-text("Send response")');
    await r.waitForURL(/error=/);
    await expect(r.locator('.nhsuk-error-summary').textContent()).resolves.toContain('must not contain HTML tags');
    await expect(r.inputValue('#response-body')).resolves.toBe(P.textarea);
    await inspect(r, 'response refused, form re-shown from the address', [P.textarea, `${P.svg} and more words to be long enough`]);
    refusals.add('response body').add('change description');
    const responseA = lines(`We are sorry. ${P.js}`, P.ssti, P.entity);
    const changeA = `Toilets are now checked every two hours ${P.tpl} ${P.unclosed}`;
    await r.fill('#response-body', responseA);
    await r.check('#change-made');
    await r.fill('#changeDescription', changeA);
    await r.click('button:has-text("Send response")');
    await r.waitForURL(/responded=published/);
    const changeB = `A leaflet now explains the ward routine ${P.js} ${P.ssti}`;
    await r.goto(`${app.url}/stories/${idB}#respond`);
    await r.fill('#response-body', 'Thank you for your story, we have shared it with the whole team.');
    await r.check('#change-planned');
    await r.fill('#changeDescription', changeB);
    await r.click('button:has-text("Send response")');
    await r.waitForURL(/responded=published/);
    fields.add('response body').add('change description');

    // The responder records a reply to the mention and tries to make it a story; both refuse markup.
    await r.goto(`${app.url}/staff/mentions/${idM}`);
    await inspect(r, 'mention', [P.script, P.img, P.svg, P.textarea, P.unclosed, P.entity, P.tpl, P.ssti]);
    // The post's own address came from outside: it is linked only when it is a web address (a
    // javascript: one was refused above), so every link to a post on the page is http(s).
    const postLinks = await r.locator('a:has-text("Open the post where it was published")').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
    expect(postLinks).toEqual(['https://social.example/@someone/1']);
    await r.fill('textarea#reply', P.textarea);
    await r.click('button:has-text("Record the reply")');
    await expect(r.locator('.nhsuk-error-summary').textContent()).resolves.toContain('must not contain HTML tags');
    await expect(r.inputValue('textarea#reply')).resolves.toBe(P.textarea);
    await inspect(r, 'mention reply refused', [P.textarea]);
    refusals.add('mention reply');
    const mentionReply = `Thank you, we have passed this on. ${P.tpl} ${P.unclosed}`;
    await r.fill('textarea#reply', mentionReply);
    await r.click('button:has-text("Record the reply")');
    await r.waitForURL(/#replies$/);
    fields.add('mention reply');
    await r.fill('#title', P.script);
    await r.fill('#consentNote', P.svg);
    await r.check('#consent');
    await r.click('button:has-text("Make it a story")');
    await expect(r.locator('.nhsuk-error-summary').textContent()).resolves.toContain('must not contain HTML tags');
    await inspect(r, 'mention to story refused', [P.script, P.svg]);
    refusals.add('story from a mention: title').add('story from a mention: consent note');

    // The live wall draws new items in the browser as they arrive: a second post while it is open.
    await r.goto(`${app.url}/staff/live`);
    await r.locator('#wall[data-live="on"]').waitFor();
    const liveText = lines(`Live post #Ward7LGI ${P.img}`, P.script, P.unclosed, P.entity);
    expect((await postMention(channel, { id: 'xss-post-2', text: liveText, author: P.svg, url: 'https://social.example/@someone/2', tags: ['Ward7LGI'] })).status).toBe(201);
    await r.locator('#feed .cv-card', { hasText: 'Live post' }).waitFor();
    await inspect(r, 'live wall, card added by the island', [P.img, P.script, P.unclosed, P.entity]);
    fields.add('live wall card (client-side)');

    // The moderator accepts A's change claim (into the library) and leaves B's waiting in the queue.
    await m.goto(`${app.url}/moderation/responses`);
    await inspect(m, 'moderation: responses to check', [P.js, P.ssti, P.entity, changeA, changeB]);
    await m.locator('.nhsuk-card', { hasText: 'Xss-A1' }).locator('button:has-text("Accept the change claim")').click();
    await m.waitForURL(/\/moderation\/responses$/);

    // The storyteller replies through the link in the email about the response.
    const mail = await until(async () => inbox.find((x) => x.to.includes('b-author@example.org') && x.raw.includes('/reply?token')));
    const link = /\/stories\/[\w-]+\/reply\?token=(?:3D)?[\w-]+/.exec(mail.raw.replace(/=3D/g, '='))![0];
    await t.goto(`${app.url}${link}`);
    await t.fill('#body', P.textarea);
    await t.click('button:has-text("Send reply")');
    await expect(t.locator('.nhsuk-error-summary').textContent()).resolves.toContain('must not contain HTML tags');
    await expect(t.inputValue('#body')).resolves.toBe(P.textarea);
    await inspect(t, 'author reply refused', [P.textarea, titleB]);
    refusals.add('author reply');
    const replyB = `Thank you all. ${P.tpl} ${P.unclosed}`;
    await t.fill('#body', replyB);
    await t.click('button:has-text("Send reply")');
    await t.locator('h1', { hasText: 'Your reply has been sent' }).waitFor();
    await m.goto(`${app.url}/moderation/responses`);
    await inspect(m, 'moderation: reply to check', [replyB, titleB]);
    await m.locator('.nhsuk-card', { hasText: replyB }).locator('button:has-text("Publish reply")').click();
    await m.waitForURL(/\/moderation\/responses$/);
    fields.add('author reply');

    // The published-story alert reaches the responder's notifications (a background job).
    await until(async () => {
      await r.goto(`${app.url}/staff/notifications`);
      const text = (await r.locator('main').textContent()) ?? '';
      return text.includes(editedTitleA) && text.includes(titleB) ? true : undefined;
    });

    // Every page where the text shows, for each role; first escaping alone, then with CSP on.
    type Role = 'public' | 'moderator' | 'responder' | 'admin';
    const displays: Array<{ who: Role; path: string; shown: string[] }> = [
      { who: 'public', path: `/stories/${idA}`, shown: [editedTitleA, P.js, P.unclosed, P.entity, P.ssti, P.img, responseA.split('\n')[0]!, changeA] },
      { who: 'public', path: `/stories/${idB}`, shown: [titleB, P.tpl, P.js, P.ssti, P.script, replyB] },
      { who: 'public', path: '/stories', shown: [editedTitleA, titleB, P.img, P.script] },
      { who: 'public', path: '/stories?q=night+staff', shown: [editedTitleA, P.img] },
      { who: 'public', path: '/stories?q=cardiology+nurses', shown: [titleB, P.script] },
      { who: 'public', path: '/services/RR813-W07', shown: [editedTitleA, titleB, P.img, P.script] },
      { who: 'public', path: '/library', shown: [changeA, editedTitleA] },
      { who: 'moderator', path: '/moderation', shown: [titleD] },
      { who: 'moderator', path: `/moderation/stories/${idD}`, shown: [titleD, P.svg, P.js] },
      { who: 'moderator', path: `/moderation/stories/${idA}`, shown: [titleA, editedTitleA, P.unclosed, P.img] },
      { who: 'moderator', path: `/moderation/stories/${idC}`, shown: [reason] },
      { who: 'moderator', path: '/moderation/responses', shown: [changeB, titleB] },
      { who: 'responder', path: '/staff/inbox?service=RR813-W07', shown: [editedTitleA, titleB] },
      { who: 'responder', path: `/staff/stories/${idA}`, shown: [editedTitleA, note, P.unclosed, P.entity] },
      { who: 'responder', path: `/staff/stories/${idB}`, shown: [titleB, P.tpl] },
      { who: 'responder', path: '/staff/notifications', shown: [editedTitleA, titleB] },
      { who: 'responder', path: `/stories/${idA}`, shown: [editedTitleA, P.img, changeA] },
      { who: 'admin', path: '/staff/organisations/RR8', shown: [P.img, templateBody] },
      { who: 'admin', path: '/staff/organisations/RR8/channels', shown: [P.img] },
      { who: 'responder', path: '/staff/mentions', shown: [P.script, P.img, P.svg, P.textarea, P.unclosed, P.entity, P.tpl, P.ssti] },
      { who: 'responder', path: `/staff/mentions/${idM}`, shown: [P.script, P.img, P.svg, P.textarea, P.unclosed, P.entity, P.tpl, mentionReply] },
      { who: 'responder', path: '/staff/live', shown: [P.img, P.script, P.unclosed, P.entity] },
    ];
    const escaping: Record<Role, Page> = { public: t, moderator: m, responder: r, admin: a };
    for (const v of displays) {
      const res = await escaping[v.who].goto(`${app.url}${v.path}`);
      expect([v.path, res?.status()]).toEqual([v.path, 200]);
      await inspect(escaping[v.who], `${v.who} ${v.path} (CSP bypassed)`, v.shown);
    }

    // Query parameters and path segments. Where a page echoes the value back (a search box, a message)
    // every payload is tried, the two template ones together; where it is ignored, refused or a
    // 404, three payloads that cover the HTML, attribute and URL contexts are enough.
    const echoing: Array<{ who: Role; path: (p: string) => string }> = [
      { who: 'public', path: (p) => `/stories?q=${p}` },
      { who: 'public', path: (p) => `/stories?service=${p}&tag=${p}&theme=${p}` },
      { who: 'public', path: (p) => `/tell?q=${p}` },
      { who: 'public', path: (p) => `/services?q=${p}` },
      { who: 'public', path: (p) => `/services/${p}` },
      { who: 'public', path: (p) => `/library?q=${p}&theme=${p}` },
      { who: 'responder', path: (p) => `/staff/inbox?service=${p}` },
      { who: 'responder', path: (p) => `/stories/${idA}?error=${p}&body=${p}&changeDescription=${p}&change=${p}&template=${p}` },
      { who: 'moderator', path: (p) => `/moderation?done=${p}` },
    ];
    const ignoring: Array<{ who: Role; path: (p: string) => string }> = [
      { who: 'public', path: (p) => `/stories?since=${p}` },
      { who: 'public', path: (p) => `/sign-in?next=${p}` },
      { who: 'public', path: (p) => `/stories/${idB}/reply?token=${p}` },
      { who: 'admin', path: (p) => `/staff/organisations/${p}` },
    ];
    const echoed = [P.script, P.img, P.svg, P.js, P.textarea, P.unclosed, P.entity, `${P.tpl} ${P.ssti}`];
    const views = [
      ...echoed.flatMap((p) => echoing.map((v) => ({ who: v.who, path: v.path(encodeURIComponent(p)), shown: [p] }))),
      ...[P.script, P.svg, P.js].flatMap((p) => ignoring.map((v) => ({ who: v.who, path: v.path(encodeURIComponent(p)), shown: [] }))),
    ];
    for (const v of views) {
      const res = await escaping[v.who].goto(`${app.url}${v.path}`);
      if ((res?.status() ?? 500) >= 500) problems.push(`${v.who} ${v.path}: ${res?.status()}`);
      await inspect(escaping[v.who], `${v.who} ${v.path}`, v.shown);
    }
    const reflectedChecks = views.length;

    // The same display pages with CSP on, as people see them, listening for blocked attempts.
    const withCsp: Record<Role, Awaited<ReturnType<typeof openPage>>> = {
      public: await openPage(browser),
      moderator: await openPage(browser),
      responder: await openPage(browser),
      admin: await openPage(browser),
    };
    for (const [who, page] of Object.entries(withCsp) as Array<[Role, Page]>) {
      await page.context().addCookies(await escaping[who].context().cookies());
      await page.addInitScript(recordCspViolations);
      await offline(page);
      watch(page);
    }
    for (const v of displays) {
      await withCsp[v.who].goto(`${app.url}${v.path}`);
      await inspect(withCsp[v.who], `${v.who} ${v.path} (CSP on)`, v.shown);
    }

    // Canaries, on pages of their own: the checks above can see an injection. Markup slipped into a
    // page runs where CSP is bypassed, and is blocked and reported where it is on.
    const canary = async (page: Page) => {
      await page.goto(`${app.url}/stories`);
      return page.evaluate(async () => {
        document.body.insertAdjacentHTML('beforeend', '<img src="/x-canary.png" onerror="window.__xss=99">');
        await new Promise((done) => setTimeout(done, 500));
        return { xss: window.__xss, csp: window.__csp ?? [] };
      });
    };
    const bypassed = await canary(await teller.context.newPage());
    const guardedPage = await openPage(browser);
    await guardedPage.addInitScript(recordCspViolations);
    await offline(guardedPage);
    const guarded = await canary(guardedPage);
    await guardedPage.done();
    expect(bypassed.xss).toBe(99);
    expect(guarded.xss).toBeUndefined();
    expect(guarded.csp.join('\n')).toMatch(/script-src/);
    // Refusals and unknown addresses answer 4xx on purpose, and the fonts are failed on purpose
    // (offline above): Chromium logs each as a failed resource, which says nothing about scripts.
    const consoleErrors = seen.console.filter((c) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(c) && !c.includes('(https://assets.nhs.uk/'));

    console.log(
      `[xss] ${pagesChecked} page views checked in ${((performance.now() - started) / 1000).toFixed(1)} s: ${displays.length} display pages twice (CSP bypassed, CSP on), ` +
        `${reflectedChecks} views of ${echoing.length + ignoring.length} addresses that take query parameters or path segments, and the forms along the way; ` +
        `fields accepted and shown as text: ${[...fields].join(', ')}; refused with an error: ${[...refusals].join(', ')}; ` +
        `dialogs ${seen.dialogs.length}, CSP violations ${seen.csp.length} (canary: ${guarded.csp.length} blocked), console errors ${consoleErrors.length}, page errors ${seen.pageErrors.length}`,
    );
    expect(problems).toEqual([]);
    expect(seen.dialogs).toEqual([]);
    expect(seen.csp).toEqual([]);
    expect(seen.pageErrors).toEqual([]);
    expect(consoleErrors).toEqual([]);

    await Promise.all([teller.context.close(), moderator.context.close(), responder.context.close(), admin.context.close(), ...Object.values(withCsp).map((p) => p.done())]);
  });
});
