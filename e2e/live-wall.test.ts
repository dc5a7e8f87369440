import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPage, signIn as signInAt, startBrowserApp, WCAG_TAGS } from './browser.ts';

// The live wall in Chromium: an organisation admin connects a signed webhook in the admin pages,
// posts arrive through it, and a leader's wall shows them without a reload, removes a deleted one,
// and still works (refreshing) without JavaScript.

let app: Awaited<ReturnType<typeof startBrowserApp>>;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-wall-'));
let webhook: { url: string; key: string };

beforeAll(async () => {
  app = await startBrowserApp({ DATA_DIR: dataDir });
}, 120_000);
afterAll(async () => {
  await app?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const signIn = (page: Page, email: string, next: string) => signInAt(page, app.url, email, next);

async function send(body: object): Promise<number> {
  const raw = JSON.stringify(body);
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = crypto.createHmac('sha256', webhook.key).update(`${ts}.${raw}`).digest('hex');
  const res = await fetch(webhook.url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-carevoice-timestamp': ts, 'x-carevoice-signature': `sha256=${sig}` }, body: raw });
  return res.status;
}

describe('the live wall in Chromium', () => {
  it('lets an organisation admin connect a signed webhook, showing its key once', async () => {
    const page = await openPage(app.browser);
    await signIn(page, 'trust.admin@demo.carevoice', '/staff/organisations/RR8/channels');
    await page.selectOption('#kind', 'webhook');
    await page.click('main button:has-text("Add the channel")');
    const address = (await page.locator('.nhsuk-inset-text code').first().textContent())!;
    const key = (await page.locator('.cv-secret').textContent())!;
    expect(address).toMatch(/\/api\/v1\/channels\/[0-9a-f-]{36}\/webhook$/);
    webhook = { url: `${app.url}${new URL(address).pathname}`, key };
    // Shown once: the list does not show it again.
    await page.goto(`${app.url}/staff/organisations/RR8/channels`);
    expect(await page.content()).not.toContain(key);
    await page.done();
  });

  it('shows a leader what arrives without a reload, and takes away what its author deleted', async () => {
    const page = await openPage(app.browser);
    await signIn(page, 'leader@demo.carevoice', '/staff/live');
    await page.waitForSelector('#wall[data-live="on"]');
    await page.waitForFunction(() => document.getElementById('wall-status')?.textContent?.startsWith('Live'));
    // The demo's hotspot (four people on the dirty toilets of Ward 7) is on the wall.
    expect(await page.locator('#hotspot-list li a').count()).toBeGreaterThan(0);
    const axe = await new AxeBuilder({ page }).withTags(WCAG_TAGS).analyze();
    expect(axe.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);

    const before = Number(await page.locator('#today-count').textContent());
    const sent = performance.now();
    expect(await send({ id: 'wall-1', author: '@visitor', text: 'Nobody answered the call bell on #Ward7LGI for forty minutes last night', postedAt: new Date().toISOString() })).toBe(201);
    const card = page.locator('#feed li', { hasText: 'Nobody answered the call bell' });
    await card.waitFor({ timeout: 5000 });
    const shownAfter = performance.now() - sent;
    expect(shownAfter).toBeLessThan(5000);
    expect(await card.locator('.cv-card__meta').textContent()).toContain('Ward 7 (Cardiology)');
    expect(Number(await page.locator('#today-count').textContent())).toBe(before + 1);
    await page.setViewportSize({ width: 1600, height: 1000 });
    await page.screenshot({ path: 'test-results/live-wall.png' });

    expect(await send({ id: 'wall-1', deleted: true })).toBe(200);
    await card.waitFor({ state: 'detached', timeout: 10_000 });
    await page.done();
  });

  it('still works without JavaScript: the wall refreshes itself and shows the latest items', async () => {
    const page = await openPage(app.browser, { javaScriptEnabled: false });
    await signIn(page, 'leader@demo.carevoice', '/staff/live');
    expect(await page.locator('noscript').first().innerHTML()).toContain('http-equiv="refresh"');
    expect(await send({ id: 'wall-2', author: '@friend', text: 'Lovely kind staff on #Ward7LGI, thank you for looking after my dad', postedAt: new Date().toISOString() })).toBe(201);
    await page.reload();
    expect(await page.locator('#feed li', { hasText: 'Lovely kind staff' }).count()).toBe(1);
    // Filters are a plain form: by sentiment, the complaint-free view has no negative cards.
    await page.selectOption('#sentiment', 'positive');
    await page.click('main button:has-text("Show")');
    expect(page.url()).toContain('sentiment=positive');
    expect(await page.locator('#feed li.cv-card--negative:not(.cv-card--hotspot)').count()).toBe(0);
    expect(await page.locator('#feed li.cv-card--praise').count()).toBeGreaterThan(0);
    await page.done();
  });
});
