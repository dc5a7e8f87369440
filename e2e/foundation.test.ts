import { AxeBuilder } from '@axe-core/playwright';
import type { Browser } from 'playwright-core';
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

describe('the foundation in Chromium', () => {
  it('renders the home page with NHS.UK styles and no WCAG 2.2 AA violation', async () => {
    const page = await openPage(browser);
    await page.goto(server.url);
    await expect(page.locator('h1').textContent()).resolves.toBe('Tell us about your care');
    const headerColour = await page.locator('header.nhsuk-header').evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(headerColour).toBe('rgb(0, 94, 184)');
    await expect(page.locator('html').getAttribute('class')).resolves.toBeNull();
    expect(await page.evaluate(() => document.body.className)).toContain('js-enabled');
    const axe = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
    expect(axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
    await page.done();
  });

  it('finds a service by hashtag and shows its page with breadcrumbs', async () => {
    const page = await openPage(browser);
    await page.goto(server.url);
    await page.fill('#find-service', '#Ward7LGI');
    await page.click('form[role=search] button[type=submit]');
    await page.click('text=Ward 7 (Cardiology)');
    await expect(page.locator('h1').textContent()).resolves.toBe('Ward 7 (Cardiology)');
    await expect(page.locator('.nhsuk-breadcrumb').textContent()).resolves.toContain('Leeds General Infirmary');
    const axe = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
    expect(axe.violations.map((v) => v.id)).toEqual([]);
    await page.done();
  });

  it('signs a responder in and out', async () => {
    const page = await openPage(browser);
    await page.goto(`${server.url}/sign-in`);
    const axe = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
    expect(axe.violations.map((v) => v.id)).toEqual([]);
    await page.fill('#email', 'responder@demo.carevoice');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button:has-text("Sign in")');
    await page.waitForURL(/\/staff$/);
    await expect(page.locator('main').textContent()).resolves.toContain('Rachel Responder');
    await page.goto(`${server.url}/sign-out`);
    await page.click('main button:has-text("Sign out")');
    await page.waitForURL(`${server.url}/`);
    await page.goto(`${server.url}/staff`);
    expect(page.url()).toContain('/sign-in');
    await page.done();
  });

  it('works with JavaScript turned off: search, sign-in and its error messages', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${server.url}/services?q=maternity`);
    await expect(page.locator('main').textContent()).resolves.toContain('Leeds Maternity Unit (LGI)');
    await page.goto(`${server.url}/sign-in`);
    await page.fill('#email', 'leader@demo.carevoice');
    await page.fill('#password', 'wrong-password');
    await page.click('button:has-text("Sign in")');
    await expect(page.locator('.nhsuk-error-summary').textContent()).resolves.toContain('The email address or password is not right');
    await expect(page.inputValue('#email')).resolves.toBe('leader@demo.carevoice');
    await page.fill('#password', DEMO_PASSWORD);
    await page.click('button:has-text("Sign in")');
    await page.waitForURL(/\/staff$/);
    await expect(page.locator('main').textContent()).resolves.toContain('Lee Leader');
    await context.close();
  });

  it('shows a friendly page for an unknown address', async () => {
    const page = await openPage(browser);
    const res = await page.goto(`${server.url}/wards/nowhere`);
    expect(res?.status()).toBe(404);
    await expect(page.locator('h1').textContent()).resolves.toBe('Page not found');
    await page.done();
  });
});
