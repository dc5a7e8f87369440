import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DbHandle } from '../platform/db/index.ts';
import { mulberry32 } from '../nlp/classifier/index.ts';
import { ingestMention } from '../listening/mentions.ts';
import { checkItem } from '../listening/hotspots.ts';
import type { Source } from '../listening/channels/types.ts';
import { isNegative } from '../listening/sentiment.ts';
import { classifyText } from '../stories/models.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * Social posts for the demo's live wall: real NHS comments (the shared Friends and Family Test
 * data) posted with the demo services' hashtags over the last twelve hours, and, within the last
 * hour, four people telling of the same dirty toilets on Ward 7, which raises a hotspot. Seeded, so
 * every machine shows the same wall; safe to run twice.
 */
const HANDLES = ['@leedsmum', '@rob_h', 'sunny.bsky.social', '@carer_kate', '@jw1974', 'patient.voice.bsky.social', '@dave_in_leeds', '@nursing_student', '@gran_of_5', '@m_ahmed'];
const TAGS: Record<string, string> = {
  'RR813-W07': 'Ward7LGI',
  'RR813-W12': 'Ward12LGI',
  'RR813-ED': 'LGIAandE',
  'RR801-ED': 'JimmysAandE',
  'RR801-J06': 'WardJ6SJUH',
  'RR801-W95': 'Ward95SJUH',
  'RR813-MAT': 'LGIMaternity',
  'RGD-CRS': 'LeedsCrisisTeam',
  'RX8-PTS': 'YASPTS',
};

const TOILETS = [
  'The toilets on ward 7 are filthy and smell awful, nobody has cleaned them all day',
  'Toilets disgusting on ward 7. Filthy. Nobody cleans them.',
  'Why are the loos on ward 7 never cleaned? Disgusting, there was mess on the floor all night',
  'Visited mum on ward 7 today, the bathroom was dirty and smelt terrible. Not acceptable in a hospital.',
];

export async function seedDemoListening(handle: DbHandle, now = new Date()): Promise<{ mentions: number; hotspots: number }> {
  const db = handle.db;
  if (await db.selectFrom('mentions').select('id').limit(1).executeTakeFirst()) return { mentions: 0, hotspots: 0 };
  const comments = fs
    .readFileSync(path.join(here, 'data', 'comments.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { text: string; source?: string })
    .filter((c) => c.source !== 'ambulance' && c.text.length > 30 && c.text.length < 260);
  const orgs = new Map((await db.selectFrom('services').select(['code', 'org_id']).execute()).map((s) => [s.code, s.org_id]));
  const random = mulberry32(20261130);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const sources: Source[] = ['mastodon', 'bluesky', 'x'];
  const codes = Object.keys(TAGS).filter((c) => orgs.has(c));
  let mentions = 0;

  const post = async (code: string, text: string, minutesAgo: number, n: number) => {
    const source = pick(sources);
    const at = new Date(now.getTime() - minutesAgo * 60_000).toISOString();
    const r = await ingestMention(
      handle,
      { source, externalId: `demo-${n}`, url: null, author: pick(HANDLES), text: `${text} #${TAGS[code]}`, tags: [TAGS[code]!.toLowerCase()], postedAt: at },
      { orgId: orgs.get(code)!, channelId: null },
    );
    await db.updateTable('mentions').set({ received_at: at }).where('id', '=', r.id).execute();
    mentions++;
    return r.id;
  };

  // Mostly praise and mixed feelings, as on a quiet day, and a few complaints at different places.
  const sample = comments.slice(0, 800).map((c) => ({ ...c, negative: isNegative(classifyText(c.text).sentiment) }));
  const negative = sample.filter((c) => c.negative);
  const other = sample.filter((c) => !c.negative);
  for (let i = 0; i < 30; i++) await post(pick(codes), pick(other).text, 60 + Math.floor(random() * 11 * 60), i);
  for (const [i, code] of codes.slice(0, 6).entries()) await post(code, pick(negative).text, 60 + Math.floor(random() * 3 * 24 * 60), 50 + i);
  const toilets: string[] = [];
  for (const [i, text] of TOILETS.entries()) toilets.push(await post('RR813-W07', text, 40 - i * 9, 100 + i));
  let hotspots = 0;
  for (const id of toilets) hotspots += (await checkItem(handle, 'mention', id)).raised.length;
  return { mentions, hotspots };
}
