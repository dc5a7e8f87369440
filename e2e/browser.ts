import { chromium, type Browser, type Page } from 'playwright-core';
import { DEMO_PASSWORD } from '../src/demo/seed.ts';

/** Debian's Chromium, headless, with the flags that keep it off the (closed) network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** A page in a context of its own (axe needs one), closed with its context. */
export async function openPage(browser: Browser, options: { javaScriptEnabled?: boolean } = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  return Object.assign(page, { done: () => context.close() });
}

/** A served app on a fresh database with the demo loaded, and Chromium, for one test file. */
export async function startBrowserApp(env: Record<string, string> = {}) {
  const { freshDatabase } = await import('../test/helpers.ts');
  const { startServer } = await import('../test/server.ts');
  const database = await freshDatabase();
  const server = await startServer({ DATABASE_URL: database.url, STORY_RATE_LIMIT: '0', ...env }, ['--demo']);
  const browser = await launchChromium();
  return {
    url: server.url,
    browser,
    async close() {
      await browser.close();
      server.child.kill('SIGTERM');
      await server.exited;
      await database.drop();
    },
  };
}

/** Signs a demo user in through the real form and waits to land on `next`. */
export async function signIn(page: Page, baseUrl: string, email: string, next: string): Promise<void> {
  await page.goto(`${baseUrl}/sign-in?next=${encodeURIComponent(next)}`);
  await page.fill('#email', email);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('main button:has-text("Sign in")');
  await page.waitForURL(new RegExp(`${next.replace(/[?]/g, '\\?')}$`));
}

/** Polls `fn` until it gives a value, for up to `ms`. */
export async function until<T>(fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The same, with a local SMTP server whose inbox the test reads (mail the storyteller gets). */
export async function startBrowserAppWithMail(env: Record<string, string> = {}) {
  const { startSmtp } = await import('../test/smtp.ts');
  const smtp = await startSmtp();
  try {
    const app = await startBrowserApp({ SMTP_URL: smtp.url, ...env });
    return {
      ...app,
      inbox: smtp.inbox,
      async close() {
        await app.close();
        await smtp.close();
      },
    };
  } catch (err) {
    await smtp.close();
    throw err;
  }
}
