import { AxeBuilder } from '@axe-core/playwright';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_PASSWORD } from '../src/demo/seed.ts';
import { openPage, startBrowserApp, WCAG_TAGS } from './browser.ts';

let app: Awaited<ReturnType<typeof startBrowserApp>>;
let browser: Browser;
let server: { url: string };

beforeAll(async () => {
  app = await startBrowserApp();
  browser = app.browser;
  server = app;
});
afterAll(async () => app?.close());

const violations: string[] = [];
const noScript = new WeakSet<Page>();
// axe runs inside the page, so pages opened with JavaScript off are checked on their JS twin instead.
async function checkA11y(page: Page) {
  if (noScript.has(page)) return;
  const axe = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
  violations.push(...axe.violations.map((v) => `${page.url()} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`));
}

async function tellStory(page: Page, title: string, body: string) {
  await page.goto(`${server.url}/tell`);
  await checkA11y(page);
  await page.fill('#q', 'Ward7LGI');
  await page.click('form[action="/tell"] button[type=submit]');
  await page.click('button:has-text("Add")');
  await expect(page.locator('main').textContent()).resolves.toContain('You have chosen');
  await page.click('button:has-text("Continue")');
  await page.waitForURL(/\/tell\/story$/);
  // An empty story is refused with the error shown beside the field; what was typed is kept.
  await page.fill('#title', title);
  await page.click('button:has-text("Continue")');
  await expect(page.locator('.nhsuk-error-summary').textContent()).resolves.toContain('Tell us what happened');
  await expect(page.inputValue('#title')).resolves.toBe(title);
  await checkA11y(page);
  await page.fill('#body', body);
  await page.click('button:has-text("Continue")');
  await page.waitForURL(/\/tell\/tags$/);
  await checkA11y(page);
  await page.check('input[name=good][value="Kindness and compassion"]');
  await page.check('input[name=improve][value="Waiting times"]');
  await page.check('#rating-2');
  await page.click('button:has-text("Continue")');
  await page.waitForURL(/\/tell\/about$/);
  await checkA11y(page);
  await page.check('#authorRole');
  await page.fill('#pseudonym', 'Grateful relative');
  await page.fill('#email', 'relative@example.org');
  await page.click('button:has-text("Continue")');
  await page.waitForURL(/\/tell\/check$/);
  await checkA11y(page);
  await expect(page.locator('main').textContent()).resolves.toContain('Ward 7 (Cardiology)');
  await page.click('button:has-text("Send your story")');
  await page.waitForURL(/\/tell\/done$/);
  await checkA11y(page);
  const ref = await page.locator('.nhsuk-panel strong').textContent();
  expect(ref).toMatch(/^CV-[0-9A-Z]{8}$/);
  return ref!;
}

describe('telling, moderating and finding a story in Chromium', () => {
  it('tells a story without JavaScript and with it', async () => {
    const noJs = await openPage(browser, { javaScriptEnabled: false });
    noScript.add(noJs);
    await tellStory(noJs, 'Kind nurses on Ward 7 at night', 'My mum Margaret Wilson was on Ward 7 and the night nurses were so kind. Call me on 07700 900123 if you want to know more. We waited 4 hours for a bed.');
    await noJs.done();
    const withJs = await openPage(browser);
    await tellStory(withJs, 'A long wait but good care', 'We waited a long time in the corridor but once on the ward the care was excellent and everyone explained what was happening.');
    await withJs.done();
  });

  it('lets a moderator publish it with its identifying details removed, and anyone find it', async () => {
    const page = await openPage(browser);
    await page.goto(`${server.url}/sign-in?next=/moderation`);
    await page.fill('#email', 'moderator@demo.carevoice');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('main button:has-text("Sign in")');
    await page.waitForURL(/\/moderation$/);
    await checkA11y(page);
    await page.click('text=Kind nurses on Ward 7 at night');
    await checkA11y(page);
    const marks = await page.locator('mark.cv-finding').allTextContents();
    expect(marks).toEqual(expect.arrayContaining(['07700 900123']));
    expect(marks.some((m) => m.includes('Margaret Wilson'))).toBe(true);
    await expect(page.inputValue('#body')).resolves.not.toContain('07700 900123');
    await page.check('#criticality-1');
    await page.click('button:has-text("Publish story")');
    await page.waitForURL(/\/moderation\?done=/);
    await expect(page.locator('main').textContent()).resolves.toContain('Story published.');
    await page.done();

    const reader = await openPage(browser, { javaScriptEnabled: false });
    noScript.add(reader);
    await reader.goto(`${server.url}/stories?q=night+nurses`);
    await reader.click('text=Kind nurses on Ward 7 at night');
    const storyUrl = reader.url();
    const scripted = await openPage(browser);
    for (const u of [`${server.url}/stories?q=night+nurses`, storyUrl, `${server.url}/services/RR813-W07`]) {
      await scripted.goto(u);
      await checkA11y(scripted);
    }
    await scripted.done();
    const text = await reader.locator('main').textContent();
    expect(text).toContain('night nurses were so kind');
    expect(text).not.toContain('07700 900123');
    expect(text).not.toContain('Margaret Wilson');
    expect(text).toContain('Kindness and compassion');
    await reader.click('button:has-text("I\'ve experienced this")');
    await expect(reader.locator('#experienced').textContent()).resolves.toContain('1 person has experienced this');
    await reader.click('button:has-text("I\'ve experienced this")');
    await expect(reader.locator('#experienced').textContent()).resolves.toContain('1 person has experienced this');
    await reader.goto(`${server.url}/services/RR813`);
    await expect(reader.locator('main').textContent()).resolves.toContain('Kind nurses on Ward 7 at night');
    await reader.done();
    expect(violations).toEqual([]);
  });
});
