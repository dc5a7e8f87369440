import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, TEST_DB, type TestDatabase } from './helpers.ts';
import { startServer } from './server.ts';
import { openLive, waitUntil } from './sse.ts';
import { startFakeJetstream, startFakeMastodon, startFakeX, type FakeMastodon } from '../src/listening/channels/fakes.ts';

// The listening path end to end, with real processes: `carevoice serve`, the `carevoice channel
// add` and `import fft` commands, a local Mastodon stand-in speaking its streaming and timeline
// API, a signed webhook, and live-wall clients reading /api/v1/live as server-sent events.

const BIN = path.resolve('bin/carevoice.js');
let database: TestDatabase;
let dataDir: string;
let env: Record<string, string>;
let server: Awaited<ReturnType<typeof startServer>>;
let mastodon: FakeMastodon;
let leaderKey: string;
let moderatorKey: string;

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', ...env }, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function must(args: string[]): string {
  const r = run(args);
  if (r.code !== 0) throw new Error(`carevoice ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.trim();
}

const api = (p: string, key: string, init: RequestInit = {}) => fetch(`${server.url}${p}`, { ...init, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });

async function mentionTexts(): Promise<string[]> {
  const res = await api('/api/v1/mentions?org=RR8&limit=100', leaderKey);
  const body = (await res.json()) as { items: Array<{ text: string }> };
  return body.items.map((m) => m.text);
}

beforeAll(async () => {
  database = await freshDatabase();
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-listening-'));
  env = { DATABASE_URL: database.url, DATA_DIR: dataDir, STORY_RATE_LIMIT: '0' };
  must(['import', 'directory', '--file', 'src/demo/directory.csv']);
  must(['user', 'add', '--email', 'leader@example.org', '--name', 'Lee Leader', '--role', 'leader', '--org', 'RR8', '--password', 'a-long-enough-password']);
  must(['user', 'add', '--email', 'mod@example.org', '--name', 'Mo Derator', '--role', 'moderator', '--password', 'a-long-enough-password']);
  leaderKey = must(['apikey', 'create', '--email', 'leader@example.org']);
  moderatorKey = must(['apikey', 'create', '--email', 'mod@example.org']);
  mastodon = await startFakeMastodon({ token: 'mastodon-token-123', heartbeatMs: 0 });
  mastodon.addStatus({ text: 'Lovely kind nurses on ward 7 last week, thank you all', tags: ['Ward7LGI'], acct: 'earlier' });
  server = await startServer(env);
}, 120_000);

afterAll(async () => {
  server?.child.kill('SIGTERM');
  await server?.exited;
  await mastodon?.close();
  await database?.drop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('listening: Mastodon, the live wall and hotspots', () => {
  it('refuses the live stream without a key (401, JSON) and to a moderator with no organisation (403)', async () => {
    const anon = await fetch(`${server.url}/api/v1/live`);
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('unauthorised');
    const mod = await api('/api/v1/live', moderatorKey);
    expect(mod.status).toBe(403);
    const badFilter = await api('/api/v1/live?service=NOPE', leaderKey);
    expect(badFilter.status).toBe(404);
  });

  it('follows a hashtag added from the command line within 10 seconds, backfilled, then live: posts, edits, deletes, a dropped stream', async () => {
    const live = await openLive(`${server.url}/api/v1/live`, { authorization: `Bearer ${leaderKey}` });
    expect(live.status).toBe(200);
    expect(live.contentType).toMatch(/text\/event-stream/);
    // The stream is written raw, past Fastify: it still carries the API's security headers.
    expect(live.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    expect(live.headers.get('x-content-type-options')).toBe('nosniff');

    const added = Date.now();
    must(['channel', 'add', 'mastodon', '--org', 'RR8', '--instance', mastodon.url, '--token', 'mastodon-token-123', '--tags', 'ward7lgi']);
    // The backfilled post arrives through the running server, within 10 seconds of the command.
    await waitUntil(async () => (await mentionTexts()).some((t) => t.includes('Lovely kind nurses')), 10_000);
    expect(Date.now() - added).toBeLessThan(10_000);
    await live.waitFor((e) => e.event === 'mention.received' && !!e.data.item?.text.includes('Lovely kind nurses'));
    // The token was sent as a Bearer token; it is stored only encrypted.
    expect(mastodon.seen.authorizations).toContain('Bearer mastodon-token-123');
    await waitUntil(async () => mastodon.openStreamCount() > 0, 10_000);

    // A live post: on the wall, matched to the ward by its hashtag.
    const post = mastodon.publish({ text: 'The discharge lounge staff were brilliant today', tags: ['Ward7LGI'], acct: 'visitor' });
    const seen = await live.waitFor((e) => e.event === 'mention.received' && !!e.data.item?.text.includes('discharge lounge'));
    expect(seen.id).toMatch(/^\d+$/);
    expect(seen.data.item!.services.map((s) => s.code)).toContain('RR813-W07');

    // An edit replaces the text everywhere.
    mastodon.edit(post.id, 'The discharge lounge staff were brilliant today, and the tea was hot');
    await live.waitFor((e) => e.event === 'mention.updated' && !!e.data.item?.text.includes('tea was hot'));
    const versions = (await mentionTexts()).filter((t) => t.includes('discharge lounge'));
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatch(/^The discharge lounge staff were brilliant today, and the tea was hot/);

    // A delete at the source: gone from the list within 10 seconds, and the wall is told.
    const deletedAt = Date.now();
    mastodon.remove(post.id);
    await live.waitFor((e) => e.event === 'mention.deleted');
    await waitUntil(async () => !(await mentionTexts()).some((t) => t.includes('discharge lounge')), 10_000);
    expect(Date.now() - deletedAt).toBeLessThan(10_000);

    // A dropped stream: what is posted meanwhile is backfilled on reconnect, since the last seen id.
    mastodon.dropStreams();
    mastodon.addStatus({ text: 'Posted while the stream was down: the parking machines are broken again', tags: ['Ward7LGI'], acct: 'driver' });
    await waitUntil(async () => (await mentionTexts()).some((t) => t.includes('while the stream was down')), 15_000);
    expect(mastodon.seen.backfillQueries.some((q) => q.includes('min_id='))).toBe(true);
    await live.close();
  });

  it('four complaints about dirty toilets on one ward within minutes raise exactly one hotspot, with the evidence', async () => {
    const live = await openLive(`${server.url}/api/v1/live`, { authorization: `Bearer ${leaderKey}` });
    const complaints = [
      'The toilets on ward 7 are filthy and smell awful, nobody has cleaned them all day',
      'Toilets disgusting on ward 7. Filthy. Nobody cleans them.',
      'Why are the loos on ward 7 never cleaned? Disgusting, there was mess on the floor all night',
      'Visited mum on ward 7 today, the bathroom was dirty and smelt terrible. Not acceptable in a hospital.',
    ];
    for (const [i, text] of complaints.entries()) mastodon.publish({ text, tags: ['Ward7LGI'], acct: `patient${i}` });
    const hotspot = await live.waitFor((e) => e.event === 'hotspot.detected', 20_000);
    expect(hotspot.data.item!.services[0]!.code).toBe('RR813-W07');
    // Give every check time to run: still one.
    await waitUntil(async () => live.events.filter((e) => e.event === 'mention.received').length >= 4, 10_000);
    await new Promise((r) => setTimeout(r, 4000));
    expect(live.events.filter((e) => e.event === 'hotspot.detected')).toHaveLength(1);

    // The hotspot page shows the evidence to a signed-in leader.
    const signIn = await fetch(`${server.url}/sign-in`);
    const cookies = signIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await signIn.text())![1]!;
    const session = await fetch(`${server.url}/sign-in`, { method: 'POST', redirect: 'manual', headers: { cookie: cookies, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, email: 'leader@example.org', password: 'a-long-enough-password' }) });
    const sessionCookie = [cookies, ...session.headers.getSetCookie().map((c) => c.split(';')[0])].join('; ');
    const page = await fetch(`${server.url}/staff/hotspots/${hotspot.data.subject}`, { headers: { cookie: sessionCookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const c of complaints.slice(0, 3)) expect(html).toContain(c.replace(/'/g, '&#39;').slice(0, 30));
    await live.close();
  });

  it('follows the same hashtag on Bluesky (Jetstream, tag facets) and X (filtered stream and its rules)', async () => {
    const jetstream = await startFakeJetstream();
    const x = await startFakeX({ token: 'x-bearer-token-123' });
    try {
      must(['channel', 'add', 'bluesky', '--org', 'RR8', '--endpoint', jetstream.url, '--tags', 'Ward7LGI']);
      must(['channel', 'add', 'x', '--org', 'RR8', '--api', x.url, '--token', 'x-bearer-token-123', '--tags', '#Ward7LGI']);
      await waitUntil(async () => jetstream.clientCount() > 0 && x.openStreamCount() > 0, 15_000);
      // The rule the X channel needs was added through the rules endpoint.
      expect(x.rules().map((r) => r.value)).toContain('#ward7lgi');
      jetstream.post({ text: 'Bluesky: the night staff on ward 7 were so patient with my grandad', tags: ['Ward7LGI'] });
      jetstream.post({ text: 'Bluesky: mentions #Ward7LGI only in text, without a tag facet' });
      x.tweet({ text: 'X: parking at the LGI is impossible again #Ward7LGI', username: 'driver_dan' });
      await waitUntil(async () => {
        const texts = await mentionTexts();
        return texts.some((t) => t.startsWith('Bluesky: the night staff')) && texts.some((t) => t.startsWith('X: parking'));
      }, 15_000);
      expect((await mentionTexts()).some((t) => t.includes('without a tag facet'))).toBe(false);
    } finally {
      await jetstream.close();
      await x.close();
    }
  });

  it('resumes after a dropped connection from Last-Event-ID without missing or repeating an event', async () => {
    const first = await openLive(`${server.url}/api/v1/live`, { authorization: `Bearer ${leaderKey}` });
    mastodon.publish({ text: 'Resume test one: staff were kind', tags: ['Ward7LGI'] });
    const one = await first.waitFor((e) => !!e.data.item?.text.includes('Resume test one'));
    await first.close();
    // While nobody listens, two more arrive.
    mastodon.publish({ text: 'Resume test two: food was cold', tags: ['Ward7LGI'] });
    mastodon.publish({ text: 'Resume test three: long wait for a bed', tags: ['Ward7LGI'] });
    await waitUntil(async () => (await mentionTexts()).some((t) => t.includes('Resume test three')), 10_000);
    const again = await openLive(`${server.url}/api/v1/live`, { authorization: `Bearer ${leaderKey}`, 'last-event-id': one.id! });
    await again.waitFor((e) => !!e.data.item?.text.includes('Resume test three'));
    const texts = again.events.map((e) => e.data.item?.text ?? '').filter((t) => t.startsWith('Resume test'));
    expect(texts.map((t) => t.replace(/ #Ward7LGI$/, ''))).toEqual(['Resume test two: food was cold', 'Resume test three: long wait for a bed']);
    const ids = again.events.map((e) => Number(e.id));
    expect(ids.every((id) => id > Number(one.id))).toBe(true);
    expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    await again.close();
  });

  it('takes posts from a signed webhook, refusing unsigned, forged and replayed ones without storing anything', async () => {
    const out = must(['channel', 'add', 'webhook', '--org', 'RR8']);
    const id = /channel ([0-9a-f-]{36})/.exec(out)![1]!;
    const secret = /signed with key (\S+)/.exec(out)![1]!;
    const send = (body: string, opts: { ts?: number; key?: string; sign?: boolean } = {}) => {
      const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
      const sig = crypto.createHmac('sha256', opts.key ?? secret).update(`${ts}.${body}`).digest('hex');
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (opts.sign !== false) Object.assign(headers, { 'x-carevoice-timestamp': ts, 'x-carevoice-signature': `sha256=${sig}` });
      return fetch(`${server.url}/api/v1/channels/${id}/webhook`, { method: 'POST', headers, body });
    };
    const body = JSON.stringify({ id: 'wh-1', author: '@neighbour', text: 'Waited four hours at #LGI A&E with my dad, nobody told us anything' });
    for (const [res, code] of [
      [await send(body, { sign: false }), 'unsigned'],
      [await send(body, { key: 'not-the-key' }), 'bad_signature'],
      [await send(body, { ts: Math.floor(Date.now() / 1000) - 3600 }), 'stale_signature'],
    ] as const) {
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await mentionTexts()).some((t) => t.includes('Waited four hours'))).toBe(false);
    const bad = await send(JSON.stringify({ id: 'wh-2', text: 5 }));
    expect(bad.status).toBe(400);
    const ok = await send(body);
    expect(ok.status).toBe(201);
    const again = await send(body);
    expect(again.status).toBe(200);
    expect((await mentionTexts()).filter((t) => t.includes('Waited four hours'))).toHaveLength(1);
    const gone = await send(JSON.stringify({ id: 'wh-1', deleted: true }));
    expect(gone.status).toBe(200);
    expect((await mentionTexts()).some((t) => t.includes('Waited four hours'))).toBe(false);
  });

  it('imports a Friends and Family Test export once, however often it is imported, and refuses a bad file whole', async () => {
    const file = path.join(dataDir, 'fft.csv');
    fs.writeFileSync(
      file,
      [
        'date,service_code,rating,comment',
        '2026-11-02,RR813-W07,1,"Staff were wonderful, thank you"',
        '2026-11-02,RR813-W07,1,"Staff were wonderful, thank you"',
        '2026-11-03,RR813-W07,5,"Call bell ignored for an hour. Contact me on 07700 900123"',
        '2026-11-03,RR813-W07,2,',
      ].join('\n'),
    );
    expect(must(['import', 'fft', '--org', 'RR8', '--file', file])).toMatch(/imported 3, already there 0, without a comment 1/);
    expect(must(['import', 'fft', '--org', 'RR8', '--file', file])).toMatch(/imported 0, already there 3/);
    // Each comment waits for a moderator, with the phone number found for redaction.
    const queue = (await (await api('/api/v1/moderation/queue?limit=100', moderatorKey)).json()) as { items: Array<{ title: string; channel: string; findings: Array<{ type: string }> }> };
    const fft = queue.items.filter((s) => s.channel === 'fft');
    expect(fft).toHaveLength(3);
    expect(fft.find((s) => s.title.startsWith('Call bell'))?.findings.map((f) => f.type)).toContain('phone');
    const bad = path.join(dataDir, 'bad.csv');
    fs.writeFileSync(bad, ['date,service_code,rating,comment', '2026-11-04,RR813-W07,1,"fine"', '04/11/2026,RR813-W07,9,"bad"', '2026-11-04,NOPE,1,"x"'].join('\n'));
    const r = run(['import', 'fft', '--org', 'RR8', '--file', bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Nothing was imported: 2 bad rows: line 3: date must be YYYY-MM-DD.*line 3: rating must be 1/);
    const r2 = run(['import', 'fft', '--org', 'RR8', '--file', path.join(dataDir, 'nothing.csv')]);
    expect(r2.code).not.toBe(0);
    // A service the organisation does not have is named by the line its row starts on, past an empty line.
    const unknown = path.join(dataDir, 'unknown.csv');
    fs.writeFileSync(unknown, ['date,service_code,rating,comment', '2026-11-04,RR813-W07,1,"fine"', '', '2026-11-04,NOPE,1,"x"'].join('\n'));
    const r3 = run(['import', 'fft', '--org', 'RR8', '--file', unknown]);
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toMatch(/Nothing was imported: 1 bad row: line 4: NOPE is not a service of RR8/);
    const after = (await (await api('/api/v1/moderation/queue?limit=100', moderatorKey)).json()) as { items: Array<{ channel: string }> };
    expect(after.items.filter((s) => s.channel === 'fft')).toHaveLength(3);
  });

  it('imports a large export on the analysis threads, and still refuses it whole for a bad last row', async () => {
    // Over 64 KB: the rows go to the analysis threads while the file is still being read.
    const rows = Array.from({ length: 1200 }, (_, i) => `2026-10-${String((i % 28) + 1).padStart(2, '0')},RR813-W07,${(i % 5) + 1},"Visit ${i}: the nurses were kind, the food was cold and the ward was clean."`);
    const header = 'date,service_code,rating,comment';
    const bad = path.join(dataDir, 'large-bad.csv');
    fs.writeFileSync(bad, [header, ...rows, 'soon,RR813-W07,1,"A date that is not one"'].join('\n'));
    expect(fs.statSync(bad).size).toBeGreaterThan(64 * 1024);
    const r = run(['import', 'fft', '--org', 'RR8', '--file', bad]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Nothing was imported: 1 bad row: line 1202: date must be YYYY-MM-DD, got "soon"/);
    const queue = async () => ((await (await api('/api/v1/moderation/queue?limit=100', moderatorKey)).json()) as { items: Array<{ title: string }> }).items;
    expect((await queue()).filter((s) => s.title.startsWith('Visit'))).toHaveLength(0);

    const good = path.join(dataDir, 'large.csv');
    fs.writeFileSync(good, [header, ...rows].join('\n'));
    expect(must(['import', 'fft', '--org', 'RR8', '--file', good])).toMatch(/imported 1200, already there 0, without a comment 0/);
    expect(must(['import', 'fft', '--org', 'RR8', '--file', good])).toMatch(/imported 0, already there 1200/);
    expect((await queue()).filter((s) => s.title.startsWith('Visit')).length).toBeGreaterThan(0);
  }, 60_000);
});

describe.runIf(TEST_DB === 'postgres')('two app servers on one PostgreSQL database', () => {
  it('an event published through one server reaches a live wall on the other within 2 seconds (LISTEN/NOTIFY)', async () => {
    const other = await startServer({ ...env, JOBS: 'off' });
    try {
      const live = await openLive(`${other.url}/api/v1/live`, { authorization: `Bearer ${leaderKey}` });
      const told = await api('/api/v1/stories', leaderKey, { method: 'POST', body: JSON.stringify({ title: 'Two servers', body: 'The nurses on ward 7 explained everything clearly.', services: ['RR813-W07'], authorRole: 'patient' }) });
      const { id } = (await told.json()) as { id: string };
      // Published once checked and stored (the first server's job loop does that in milliseconds).
      let published = 0;
      const decision = await waitUntil(async () => {
        published = performance.now();
        const r = await api(`/api/v1/moderation/stories/${id}/decision`, moderatorKey, { method: 'POST', body: JSON.stringify({ action: 'publish', criticality: 0 }) });
        return r.status === 409 && (await r.clone().text()).includes('not_checked') ? undefined : r;
      }, 5000, 20);
      expect(decision.status).toBe(200);
      const got = await live.waitFor((e) => e.event === 'story.published' && e.data.subject === id, 2000);
      expect(got.at - published).toBeLessThan(2000);
      await live.close();
    } finally {
      other.child.kill('SIGTERM');
      await other.exited;
    }
  });
});
