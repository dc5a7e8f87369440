import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemo } from '../src/demo/seed.ts';
import { jobHandlers } from '../src/jobs.ts';
import { JobWorker } from '../src/platform/jobs.ts';
import { ingestMention } from '../src/listening/mentions.ts';
import { checkItem, threshold } from '../src/listening/hotspots.ts';
import { nextPraiseDigestAt, recentPraise } from '../src/listening/praise.ts';
import { startTestApp, type TestApp } from './helpers.ts';

// Hotspots and praise through their jobs: one hotspot for one problem, its cool-down, the alert
// mail to the organisation's leaders and responders (once each), and the weekly "pass it on".

let t: TestApp;
let worker: JobWorker;
let rr8: string;
let n = 0;

const post = async (text: string, tag = 'ward7lgi') =>
  (await ingestMention(t.handle, { source: 'webhook', externalId: `hp-${n++}`, url: null, author: '@someone', text, tags: [tag], postedAt: new Date().toISOString() }, { orgId: rr8, channelId: null })).id;

beforeAll(async () => {
  t = await startTestApp();
  await seedDemo(t.handle, { stories: 0 });
  rr8 = (await t.handle.db.selectFrom('organisations').select('id').where('ods_code', '=', 'RR8').executeTakeFirstOrThrow()).id;
  worker = new JobWorker(t.handle, { log: pino({ level: 'silent' }), handlers: jobHandlers(t.handle, t.config) });
});
afterAll(async () => t.close());

describe(`hotspots and praise`, () => {
  it('needs more than the usual: at least 3, and a margin over a busy place', () => {
    expect(threshold(0)).toBe(3);
    expect(threshold(1)).toBe(5);
    expect(threshold(9)).toBe(19);
  });

  it('raises one hotspot for four complaints about the same toilets, tells leaders and responders once, and lets a fifth join it', async () => {
    for (const text of [
      'The toilets on ward 7 are filthy and smell awful, nobody has cleaned them all day',
      'Toilets disgusting on ward 7. Filthy. Nobody cleans them.',
      'Why are the loos on ward 7 never cleaned? Disgusting, there was mess on the floor all night',
      'Visited mum on ward 7 today, the bathroom was dirty and smelt terrible. Not acceptable in a hospital.',
    ]) {
      await post(text);
    }
    await worker.drain();
    await worker.drain();
    const hotspots = await t.handle.db.selectFrom('hotspots').innerJoin('services', 'services.id', 'hotspots.service_id').select(['hotspots.id', 'services.code', 'hotspots.count']).execute();
    expect(hotspots).toHaveLength(1);
    expect(hotspots[0]!.code).toBe('RR813-W07');
    const events = await t.handle.db.selectFrom('events').select('type').where('type', '=', 'hotspot.detected').execute();
    expect(events).toHaveLength(1);

    // The alert: every leader and responder of the trust, by mail and on their staff home, once.
    const people = await t.handle.db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select('users.email').where('memberships.org_id', '=', rr8).where('memberships.role', 'in', ['leader', 'responder']).execute();
    const mail = await t.handle.db.selectFrom('mail').select(['to_address', 'subject']).where('subject', 'like', 'Hotspot:%').execute();
    expect(mail.map((m) => m.to_address).sort()).toEqual([...new Set(people.map((p) => p.email))].sort());
    expect(mail[0]!.subject).toContain('Ward 7 (Cardiology)');
    // Running the alert again (a retried job) sends nothing more.
    await jobHandlers(t.handle, t.config)['hotspot.alert']!({ hotspotId: hotspots[0]!.id }, { jobId: 0, attempt: 2, log: pino({ level: 'silent' }) });
    await worker.drain();
    expect(await t.handle.db.selectFrom('mail').select('id').where('subject', 'like', 'Hotspot:%').execute()).toHaveLength(mail.length);

    // A fifth complaint in other words joins the hotspot during its cool-down.
    const fifth = await post('Still no one has cleaned the toilets on ward 7, the floor is filthy and they smell');
    const result = await checkItem(t.handle, 'mention', fifth);
    expect(result.raised).toEqual([]);
    expect(result.joined).toContain(hotspots[0]!.id);
    expect(await t.handle.db.selectFrom('hotspots').select('id').execute()).toHaveLength(1);
  });

  it('does not raise a hotspot for two complaints, or for praise', async () => {
    await post('The ward 12 food was cold again and nobody came when I rang', 'ward12lgi');
    await post('Cold food on ward 12 and a long wait for help', 'ward12lgi');
    for (let i = 0; i < 4; i++) await post(`Wonderful kind nurses on ward 12, thank you all so much (${i})`, 'ward12lgi');
    await worker.drain();
    const atWard12 = await t.handle.db.selectFrom('hotspots').innerJoin('services', 'services.id', 'hotspots.service_id').select('services.code').where('services.code', '=', 'RR813-W12').execute();
    expect(atWard12).toEqual([]);
  });

  it('passes praise on to the team once a week, grouped by service', async () => {
    const since = new Date(Date.now() - 86_400_000).toISOString();
    const praise = await recentPraise(t.handle, [rr8], { since, limit: 50 });
    expect(praise.length).toBeGreaterThan(0);
    expect(praise.every((p) => p.service.code === 'RR813-W12')).toBe(true);
    const at = new Date(Date.now() + 60_000).toISOString();
    await jobHandlers(t.handle, t.config)['praise.weekly_digest']!({ at }, { jobId: 0, attempt: 1, log: pino({ level: 'silent' }) });
    await worker.drain();
    const mail = await t.handle.db.selectFrom('mail').select(['to_address', 'subject', 'text_body']).where('subject', 'like', 'Pass it on:%').execute();
    expect(mail.length).toBeGreaterThan(0);
    expect(mail.every((m) => m.subject.includes('Leeds Teaching Hospitals'))).toBe(true);
    expect(mail[0]!.text_body).toContain('Ward 12 (General Surgery)');
    expect(mail[0]!.text_body).toContain('Wonderful kind nurses');
    // The next one is scheduled for the following Monday at 08:00 UTC.
    const next = await t.handle.db.selectFrom('jobs').select('run_at').where('kind', '=', 'praise.weekly_digest').execute();
    expect(next.map((j) => j.run_at)).toContain(nextPraiseDigestAt(new Date(Date.parse(at) + 1000)).toISOString());
    expect(new Date(next[0]!.run_at).getUTCDay()).toBe(1);
  });
});
