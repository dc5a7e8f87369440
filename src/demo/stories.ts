import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DbHandle } from '../platform/db/index.ts';
import { newId } from '../platform/db/index.ts';
import { classifyText } from '../stories/models.ts';
import { newStoryRef, tellStory } from '../stories/tell.ts';
import type { TagGroup } from '../stories/vocabulary.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

interface Comment {
  text: string;
  source: 'phase1' | 'ambulance';
  label?: string;
  criticality?: number;
  sentiment?: number;
  rating?: number;
}

/** A small seeded generator, so the demo is the same on every machine. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A title from the comment's first sentence, as people write them. */
export function titleFrom(text: string): string {
  const first = text.split(/(?<=[.!?])\s+/)[0]!.replace(/[.!?]+$/, '').trim();
  if (first.length <= 70) return first.charAt(0).toUpperCase() + first.slice(1);
  const cut = first.slice(0, 70);
  return `${cut.slice(0, cut.lastIndexOf(' ')).replace(/[,;:-]+$/, '')}…`;
}

const IMPROVE_BY_LABEL: Record<string, string> = {
  Access: 'Waiting times',
  Communication: 'Communication',
  'Environment/ facilities': 'Access and facilities',
  Staff: 'Staff attitude',
  'Care received': 'Pain management',
  Dignity: 'Privacy and dignity',
};
const GOOD_BY_LABEL: Record<string, string> = {
  Staff: 'Kindness and compassion',
  Communication: 'Clear information',
  'Care received': 'Skilled staff',
  Access: 'Quick treatment',
  'Environment/ facilities': 'Clean environment',
  Dignity: 'Privacy and dignity respected',
};

const PSEUDONYMS = ['Grateful patient', 'A carer', 'Worried daughter', 'Leeds patient', 'Anonymous', 'Proud mum', 'Frequent visitor', 'A relative', 'First-time patient', 'Regular at the clinic'];
const ROLES = ['patient', 'patient', 'patient', 'carer', 'relative', 'relative', 'other'];

/**
 * About 2,000 published stories made from real, anonymised NHS comments (src/demo/data, with its
 * notice), spread over the demo services and the last 12 months, classified like any story, plus a
 * few pending ones in the moderation queue (one urgent, some with identifying details to remove).
 * Safe to run twice: it does nothing when demo stories are there already.
 */
export async function seedDemoStories(handle: DbHandle, opts: { count?: number; publicUrl: string; now?: Date } = { publicUrl: 'http://localhost:3000' }): Promise<{ published: number; pending: number }> {
  const db = handle.db;
  const existing = await db.selectFrom('stories').select('id').where('channel', '=', 'demo').limit(1).executeTakeFirst();
  if (existing) return { published: 0, pending: 0 };
  const comments = fs
    .readFileSync(path.join(here, 'data', 'comments.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Comment);
  const random = mulberry32(20261124);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

  const services = await db.selectFrom('services').innerJoin('organisations', 'organisations.id', 'services.org_id').select(['services.id', 'services.org_id', 'services.kind', 'organisations.kind as orgKind']).execute();
  const acute = services.filter((s) => s.orgKind === 'acute_trust' && ['ward', 'department', 'clinic'].includes(s.kind));
  const mental = services.filter((s) => s.orgKind === 'mental_health_trust' && s.kind !== 'organisation');
  const ambulance = services.filter((s) => s.orgKind === 'ambulance_trust' && s.kind !== 'organisation');
  const transport = (await db.selectFrom('services').select('id').where('code', '=', 'RX8-PTS').executeTakeFirst())?.id;
  const primary = services.filter((s) => ['gp_practice', 'care_home'].includes(s.orgKind));
  const serviceFor = (c: Comment) => {
    // The ambulance comments come from a patient transport service's Friends and Family Test.
    if (c.source === 'ambulance') return random() < 0.7 ? (ambulance.find((s) => s.id === transport) ?? pick(ambulance)) : pick(ambulance);
    const r = random();
    return r < 0.62 ? pick(acute) : r < 0.8 ? pick(mental) : pick(primary);
  };

  const count = Math.min(opts.count ?? 2000, comments.length);
  const order = comments.map((c, i) => ({ c, k: random(), i })).sort((a, b) => a.k - b.k).slice(0, count);
  const nowMs = (opts.now ?? new Date()).getTime();
  const year = 365 * 86_400_000;

  const rows = order.map(({ c }) => {
    const publishedMs = nowMs - Math.floor(random() * year);
    const submittedMs = publishedMs - Math.floor((2 + random() * 46) * 3_600_000);
    const negative = c.source === 'phase1' ? (c.criticality ?? 0) < 0 : (c.sentiment ?? 3) >= 4;
    const rating = c.source === 'ambulance' ? (c.rating! >= 1 && c.rating! <= 5 ? c.rating! : null) : negative ? (c.criticality! <= -3 ? 5 : 4) : c.criticality! >= 2 ? 1 : 2;
    const criticality = c.source === 'phase1' ? Math.max(0, Math.min(5, -(c.criticality ?? 0))) : negative ? (c.sentiment === 5 ? 3 : 2) : 0;
    const tags: Array<{ group: TagGroup; tag: string }> = [];
    const label = c.label ?? '';
    if (negative && IMPROVE_BY_LABEL[label]) tags.push({ group: 'improve', tag: IMPROVE_BY_LABEL[label]! });
    if (!negative && GOOD_BY_LABEL[label]) tags.push({ group: 'good', tag: GOOD_BY_LABEL[label]! });
    if (!negative && random() < 0.5) tags.push({ group: 'felt', tag: pick(['Grateful', 'Reassured', 'Respected']) });
    if (negative && random() < 0.5) tags.push({ group: 'felt', tag: pick(['Frustrated', 'Anxious', 'Ignored', 'Upset']) });
    const { themes, sentiment } = classifyText(c.text);
    return {
      id: newId(),
      ref: newStoryRef(),
      title: titleFrom(c.text),
      body: c.text,
      rating,
      criticality,
      tags,
      themes,
      sentiment,
      service: serviceFor(c),
      submitted: new Date(submittedMs).toISOString(),
      published: new Date(publishedMs).toISOString(),
    };
  });

  const BATCH = 200;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += BATCH) {
      const batch = rows.slice(i, i + BATCH);
      await trx
        .insertInto('stories')
        .values(
          batch.map((r) => ({
            id: r.id,
            ref: r.ref,
            title: r.title,
            body: r.body,
            original_title: r.title,
            original_body: r.body,
            author_pseudonym: pick(PSEUDONYMS),
            author_role: pick(ROLES),
            author_email: null,
            author_token_hash: null,
            rating: r.rating,
            channel: 'demo',
            moderation: 'published' as const,
            moderation_reason: null,
            urgent: 0,
            safeguarding: '[]',
            suggested_criticality: r.criticality,
            criticality: r.criticality,
            progress: 'unheard' as const,
            experienced_count: Math.floor(random() * random() * 12),
            sentiment: r.sentiment,
            themes: JSON.stringify(r.themes),
            idempotency_key: null,
            created_by: null,
            submitted_at: r.submitted,
            publish_at: null,
            published_at: r.published,
            decided_at: r.published,
            updated_at: r.published,
          })),
        )
        .execute();
      await trx.insertInto('story_services').values(batch.map((r) => ({ story_id: r.id, service_id: r.service.id, org_id: r.service.org_id, position: 0 }))).execute();
      const tagRows = batch.flatMap((r) => r.tags.map((t) => ({ story_id: r.id, tag_group: t.group, tag: t.tag })));
      if (tagRows.length) await trx.insertInto('story_tags').values(tagRows).execute();
      await trx
        .insertInto('events')
        .values(batch.map((r) => ({ type: 'story.published', org_id: r.service.org_id, subject: r.id, actor_id: null, data: JSON.stringify({ ref: r.ref, title: r.title, criticality: r.criticality, demo: true }), created_at: r.published })))
        .execute();
    }
  });

  // A realistic queue for moderators: told through the same path as any story.
  const pending = [
    { title: 'Dad left without help on Ward 25', body: 'My dad was left in soiled sheets for hours on Ward 25 and he has bruises on his arms nobody can explain. I am frightened he is being neglected. Please look into this.', services: ['RR813-W25'], authorRole: 'relative', rating: 5 },
    { title: 'Wonderful midwives on the labour ward', body: 'Sarah and Becky on the labour ward were amazing when our daughter was born on 14 March. My husband Tom Wright could not thank them enough. Ring me on 07700 900461 if you want to pass on our thanks.', services: ['RR813-L51'], authorRole: 'patient', rating: 1 },
    { title: 'Waited 9 hours in A&E with chest pain', body: 'I arrived at 10:30pm and was not seen until the morning. Staff were rushed off their feet and nobody told us what was happening. My NHS number is 943 476 5919 if you need to check.', services: ['RR801-ED'], authorRole: 'patient', rating: 4 },
    { title: 'Crisis team listened when I needed it', body: 'I called the crisis team at a very bad time and they listened and visited the next day. The support since has made a real difference to me and my family.', services: ['RGD-CRS'], authorRole: 'patient', rating: 1 },
    { title: 'Transport was late again', body: 'Patient transport was two hours late collecting my mother from her dialysis appointment, for the third time this month. We live at 14 Park Road, Leeds LS6 2AB and the driver could not find us.', services: ['RX8-PTS'], authorRole: 'carer', rating: 4 },
    { title: 'Could not get a GP appointment', body: 'I phoned at 8am every day for a week and could never get through before all the appointments had gone. The receptionist Mrs Patel was polite but could not help.', services: ['B86901'], authorRole: 'patient', rating: 4 },
  ];
  for (const p of pending) await tellStory(handle, p, { channel: 'web', publicUrl: opts.publicUrl });
  return { published: rows.length, pending: pending.length };
}
