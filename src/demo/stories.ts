import type { DbHandle } from '../platform/db/index.ts';
import { newId } from '../platform/db/index.ts';
import { classifyText } from '../stories/models.ts';
import { newStoryRef, tellStory, titleFrom } from '../stories/tell.ts';
import { drainIntake } from '../stories/intake.ts';
import { mulberry32 } from '../nlp/classifier/index.ts';
import { criticalityOf, isNegative, loadComments, PSEUDONYMS, ratingOf, tagsFor, type Comment } from './comments.ts';

export { titleFrom };

const POSITIVE_REPLIES = [
  'Thank you so much for taking the time to tell us about your experience with {service}. I have shared your kind words with the whole team, who were delighted to read them.',
  'Thank you for your lovely feedback. It means a great deal to the staff of {service} to know they made a difference, and I have passed your story on to them.',
  'We are so pleased to hear about your experience. I have shared your story at our team meeting so that everyone at {service} can see what you said.',
];
const NEGATIVE_REPLIES = [
  'Thank you for telling us about your experience with {service}, and I am sorry it fell short of what you should expect. I have shared your story with the team and we are looking at what we can do differently.',
  'I am sorry to read about your experience. This is not the standard we aim for at {service}. If you would like to talk it through, please contact our patient experience team, quoting your story reference.',
  'Thank you for raising this. I have discussed your story with the ward manager and the matron for {service}, and we want to put this right.',
];
const CHANGES: Record<string, string[]> = {
  Access: ['We have added an extra clinic session on Tuesday evenings to bring waiting times down.', 'Patients now get a text message with their expected waiting time when they arrive.'],
  Communication: ['Every patient now gets a written summary of their plan before they leave, and staff have had refresher training on explaining next steps.', 'We now phone patients the day before their appointment to confirm the time and what to bring.'],
  'Environment/ facilities': ['The toilets are now checked and cleaned every two hours, with a signed log on the door.', 'We have replaced the broken chairs in the waiting area and added a water fountain.'],
  Staff: ['All reception staff have completed customer care training, and we have added a second receptionist at busy times.', 'We have changed the handover so that a named nurse introduces themselves to every patient at the start of each shift.'],
  'Care received': ['Pain scores are now checked and recorded every two hours overnight.', 'We have introduced a checklist so that medication is reviewed before every discharge.'],
  Dignity: ['Curtains are now always drawn for personal care, and we have bought privacy screens for the bays.'],
  default: ['We have changed how the team works as a result of this story, and will check in three months that the change has stuck.', 'We now review every story like this at our weekly team meeting and agree one action to take.'],
};

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
  const comments = loadComments();
  // Seeded, so the demo is the same on every machine.
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
    const negative = isNegative(c);
    const rating = ratingOf(c);
    const criticality = criticalityOf(c);
    const tags = tagsFor(c, negative, random);
    const label = c.label ?? '';
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
      negative,
      label,
      submitted: new Date(submittedMs).toISOString(),
      published: new Date(publishedMs).toISOString(),
    };
  });

  // Responses, changes and handling, so the inbox, the measures and the library look lived-in.
  const responders = new Map(
    (await db.selectFrom('memberships').innerJoin('users', 'users.id', 'memberships.user_id').select(['memberships.org_id', 'users.id']).where('memberships.role', '=', 'responder').execute()).map((m) => [m.org_id, m.id]),
  );
  const serviceNames = new Map((await db.selectFrom('services').select(['id', 'name']).execute()).map((s) => [s.id, s.name]));
  type DemoResponse = { id: string; story_id: string; org_id: string; author_id: string; body: string; change: 'planned' | 'made' | null; change_description: string | null; change_status: 'accepted' | null; moderation: 'published'; moderation_reason: null; created_at: string; edit_until: string; published_at: string; updated_at: string };
  const responses: DemoResponse[] = [];
  const handling: Array<{ story_id: string; org_id: string; read_at: string | null; read_by: string | null; assignee_id: string | null; assigned_at: string | null; due_at: string | null }> = [];
  const progress = new Map<string, 'unheard' | 'heard' | 'responded' | 'change_planned' | 'change_made'>();
  for (const r of rows) {
    const responder = responders.get(r.service.org_id);
    const published = Date.parse(r.published);
    const ageHours = (nowMs - published) / 3_600_000;
    if (!responder) continue;
    const read = random() < 0.9 || ageHours > 72;
    if (!read && ageHours < 72) continue;
    const readAt = new Date(published + Math.min(ageHours * 0.5, 2 + random() * 30) * 3_600_000).toISOString();
    progress.set(r.id, 'heard');
    const answered = ageHours > 6 && random() < 0.78;
    const dueDays = r.criticality >= 4 ? 1 : 5;
    handling.push({ story_id: r.id, org_id: r.service.org_id, read_at: readAt, read_by: responder, assignee_id: answered || random() < 0.4 ? responder : null, assigned_at: readAt, due_at: new Date(published + dueDays * 1.4 * 86_400_000).toISOString() });
    if (!answered) continue;
    // Time to first response: mostly within two days, with a long tail.
    const hours = Math.min(ageHours - 1, 1 + random() * random() * 160);
    const at = new Date(published + hours * 3_600_000).toISOString();
    const claim = r.negative && random() < 0.35 ? (random() < 0.55 ? 'made' : 'planned') : null;
    const change = claim ? CHANGES[r.label] ?? CHANGES.default! : null;
    const service = serviceNames.get(r.service.id) ?? 'the team';
    responses.push({
      id: newId(),
      story_id: r.id,
      org_id: r.service.org_id,
      author_id: responder,
      body: r.negative
        ? pick(NEGATIVE_REPLIES).replace('{service}', service)
        : pick(POSITIVE_REPLIES).replace('{service}', service),
      change: claim,
      change_description: change ? pick(change) : null,
      change_status: claim ? 'accepted' : null,
      moderation: 'published',
      moderation_reason: null,
      created_at: at,
      edit_until: at,
      published_at: at,
      updated_at: at,
    });
    progress.set(r.id, claim === 'made' ? 'change_made' : claim === 'planned' ? 'change_planned' : 'responded');
  }

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
            progress: progress.get(r.id) ?? ('unheard' as const),
            experienced_count: Math.floor(random() * random() * 12),
            sentiment: r.sentiment,
            themes: JSON.stringify(r.themes),
            topics: JSON.stringify(r.themes.map((t) => t.label)),
            idempotency_key: null,
            created_by: null,
            submitted_at: r.submitted,
            publish_at: null,
            published_at: r.published,
            decided_at: r.published,
            updated_at: r.published,
            checked_at: r.submitted,
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
    for (let i = 0; i < responses.length; i += BATCH) await trx.insertInto('responses').values(responses.slice(i, i + BATCH)).execute();
    for (let i = 0; i < handling.length; i += BATCH) await trx.insertInto('story_handling').values(handling.slice(i, i + BATCH)).execute();
    for (let i = 0; i < responses.length; i += BATCH) {
      await trx
        .insertInto('events')
        .values(responses.slice(i, i + BATCH).map((x) => ({ type: 'response.published', org_id: x.org_id, subject: x.story_id, actor_id: x.author_id, data: JSON.stringify({ response: x.id, change: x.change, demo: true }), created_at: x.published_at })))
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
  // Checked and stored now, so the queue is ready for moderators however the demo is started.
  await drainIntake(handle);
  return { published: rows.length, pending: pending.length };
}
