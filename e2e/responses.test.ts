import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReceivedMail } from '../test/smtp.ts';
import { openPage, signIn as signInAt, startBrowserAppWithMail, until } from './browser.ts';

let app: Awaited<ReturnType<typeof startBrowserAppWithMail>>;
let browser: Browser;
let server: { url: string };
let inbox: ReceivedMail[];

beforeAll(async () => {
  app = await startBrowserAppWithMail();
  ({ browser, inbox } = app);
  server = app;
});
afterAll(async () => app?.close());

const signIn = (page: Page, email: string, next: string) => signInAt(page, server.url, email, next);

describe('hear, answer and change in Chromium', () => {
  it('a responder takes a new story, answers it with a change; a moderator checks both; the public sees "change made"', async () => {
    const title = 'Toilets on Ward 12 not cleaned overnight';
    // A patient tells the story through the API, with an email, and a moderator publishes it.
    const told = await (await fetch(`${server.url}/api/v1/stories`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title, body: 'The toilets on Ward 12 were not cleaned all night and there was no soap. Staff were kind but very busy.', services: ['RR813-W12'], authorRole: 'patient', email: 'patient@example.org', rating: 4 }) })).json() as { id: string };
    const moderator = await openPage(browser);
    await signIn(moderator, 'moderator@demo.carevoice', '/moderation');
    await moderator.click(`text=${title}`);
    await moderator.check('#criticality-2');
    await moderator.click('button:has-text("Publish story")');
    await moderator.waitForURL(/\/moderation\?done=/);
    const before = await (await fetch(`${server.url}/api/v1/measures?service=RR813-W12`)).json() as { counts: { responded: number }; changesMade: number };

    const responder = await openPage(browser);
    await signIn(responder, 'responder@demo.carevoice', '/staff/inbox');
    await responder.goto(`${server.url}/staff/inbox?unanswered=1&service=RR813-W12`);
    await responder.click(`text=${title}`);
    await responder.click('button:has-text("Take this story")');
    await expect(responder.locator('main').textContent()).resolves.toContain('Owner: Rachel Responder');
    await responder.click('text=Respond in public on the story page');
    await responder.fill('#response-body', 'Thank you for telling us, and I am sorry. I have spoken to the domestic team and the ward manager.');
    await responder.check('#change-made');
    await responder.fill('#changeDescription', 'Toilets on Ward 12 are now checked and cleaned every two hours overnight, with a signed log on the door.');
    await responder.click('button:has-text("Send response")');
    // The demo responder has more than 10 published responses, so the answer goes out at once; the
    // change claim still waits for a moderator and does not show until it is checked.
    const answered = await responder.locator('main').textContent();
    expect(answered).toContain('Your response is published.');
    expect(answered).toContain('Response from Rachel Responder');
    expect(answered).not.toContain('Change made:');

    await moderator.goto(`${server.url}/moderation/responses`);
    await expect(moderator.locator('main').textContent()).resolves.toContain('every two hours overnight');
    await moderator.click('button:has-text("Accept the change claim")');
    await moderator.waitForURL(/\/moderation\/responses$/);

    const reader = await openPage(browser, { javaScriptEnabled: false });
    await reader.goto(`${server.url}/stories/${told.id}`);
    const text = await reader.locator('main').textContent();
    expect(text).toContain('Response from Rachel Responder');
    expect(text).toContain('Change made:');
    expect(text).toContain('every two hours overnight');
    expect(text).toMatch(/✓ Change made/);

    const mail = await until(async () => inbox.find((m) => m.to.includes('patient@example.org') && m.raw.includes('A response to your story')));
    expect(mail.raw).toContain(`/stories/${told.id}`);
    const after = await (await fetch(`${server.url}/api/v1/measures?service=RR813-W12`)).json() as { counts: { responded: number }; changesMade: number };
    expect(after.counts.responded).toBe(before.counts.responded + 1);
    expect(after.changesMade).toBe(before.changesMade + 1);
    await Promise.all([moderator.done(), responder.done(), reader.done()]);
  });
});
