import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DbHandle } from '../platform/db/index.ts';
import { seedDemoListening } from './listening.ts';
import { importDirectoryCsv } from '../directory/import.ts';
import { addUser, type RoleName } from '../platform/auth/index.ts';
import { seedDemoStories } from './stories.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Every demo account signs in with this password; it is printed by `npm start`. */
export const DEMO_PASSWORD = 'carevoice-demo';

export interface DemoUser {
  email: string;
  name: string;
  role: RoleName;
  org?: string;
  what: string;
}

export const DEMO_USERS: DemoUser[] = [
  { email: 'admin@demo.carevoice', name: 'Alex Admin', role: 'admin', what: 'platform admin' },
  { email: 'moderator@demo.carevoice', name: 'Morgan Moderator', role: 'moderator', what: 'moderator (all organisations)' },
  { email: 'trust.admin@demo.carevoice', name: 'Tariq Admin', role: 'admin', org: 'RR8', what: 'organisation admin, Leeds Teaching Hospitals' },
  { email: 'responder@demo.carevoice', name: 'Rachel Responder', role: 'responder', org: 'RR8', what: 'responder, Leeds Teaching Hospitals' },
  { email: 'leader@demo.carevoice', name: 'Lee Leader', role: 'leader', org: 'RR8', what: 'leader (chief nurse), Leeds Teaching Hospitals' },
  { email: 'mh.responder@demo.carevoice', name: 'Mia Responder', role: 'responder', org: 'RGD', what: 'responder, Leeds and York Partnership' },
  { email: 'mh.leader@demo.carevoice', name: 'Maya Leader', role: 'leader', org: 'RGD', what: 'leader, Leeds and York Partnership' },
  { email: 'ambulance.responder@demo.carevoice', name: 'Amir Responder', role: 'responder', org: 'RX8', what: 'responder, Yorkshire Ambulance Service' },
  { email: 'gp.responder@demo.carevoice', name: 'Grace Responder', role: 'responder', org: 'B86901', what: 'responder, Meanwood Green Surgery' },
];

/** Loads the demo region. Safe to run twice: what is already there is left as it is. */
export async function seedDemo(
  handle: DbHandle,
  opts: { stories?: number; publicUrl?: string } = {},
): Promise<{ organisations: number; services: number; users: number; stories: number; pending: number }> {
  const db = handle.db;
  let organisations = 0;
  let services = 0;
  const present = await db.selectFrom('organisations').select('id').where('ods_code', '=', 'RR8').executeTakeFirst();
  if (!present) {
    const csv = fs.readFileSync(path.join(here, 'directory.csv'), 'utf8');
    ({ organisations, services } = await importDirectoryCsv(handle, csv));
  }
  const orgs = new Map((await db.selectFrom('organisations').select(['id', 'ods_code']).execute()).map((o) => [o.ods_code, o.id]));
  let users = 0;
  for (const u of DEMO_USERS) {
    const r = await addUser(db, { email: u.email, name: u.name, role: u.role, orgId: u.org ? orgs.get(u.org) : null, password: DEMO_PASSWORD });
    if (r.created) users++;
  }
  const stories = opts.stories === 0 ? { published: 0, pending: 0 } : await seedDemoStories(handle, { count: opts.stories ?? 2000, publicUrl: opts.publicUrl ?? 'http://localhost:3000' });
  if (opts.stories !== 0) await seedDemoListening(handle);
  return { organisations, services, users, stories: stories.published, pending: stories.pending };
}
