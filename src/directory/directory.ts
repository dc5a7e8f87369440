import { sql, type Transaction } from 'kysely';
import type { Database, ServiceTable } from '../platform/db/schema.ts';
import type { Db, DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError, notFound } from '../platform/errors.ts';
import { CODE_PATTERN, HASHTAG_PATTERN, isOrganisationKind, isServiceKind } from './kinds.ts';

/**
 * The directory: organisations and their service trees. Each organisation has a root service
 * with the organisation's ODS code and kind `organisation`, so "a service and its subtree" and
 * "an organisation" are the same query, and a story can name either.
 */
type Conn = Db | Transaction<Database>;

export type ServiceRow = Omit<ServiceTable, 'created_at'>;

export interface NewService {
  code: string;
  name: string;
  kind: string;
  hashtags?: string[];
}

async function insertHashtags(trx: Conn, serviceId: string, tags: string[]) {
  for (const raw of tags) {
    const m = HASHTAG_PATTERN.exec(raw);
    if (!m) throw new AppError('bad_hashtag', 400, `"${raw}" is not a hashtag (letters, digits and _ only)`);
    const display = m[1]!;
    const taken = await trx.selectFrom('service_hashtags').select('service_id').where('tag', '=', display.toLowerCase()).executeTakeFirst();
    if (taken && taken.service_id !== serviceId) throw new AppError('hashtag_taken', 409, `#${display} is already used by another service`);
    if (!taken) await trx.insertInto('service_hashtags').values({ tag: display.toLowerCase(), display, service_id: serviceId }).execute();
  }
}

export async function createOrganisation(
  trx: Conn,
  dialect: DbHandle['dialect'],
  o: { odsCode: string; name: string; kind: string; hashtags?: string[]; reviewWindowHours?: number },
): Promise<{ orgId: string; rootServiceId: string }> {
  if (!CODE_PATTERN.test(o.odsCode)) throw new AppError('bad_code', 400, `"${o.odsCode}" is not a valid ODS code`);
  if (!isOrganisationKind(o.kind)) throw new AppError('bad_kind', 400, `"${o.kind}" is not an organisation kind`);
  const exists = await trx.selectFrom('services').select('id').where('code', '=', o.odsCode).executeTakeFirst();
  if (exists) throw new AppError('code_taken', 409, `The code ${o.odsCode} is already in the directory`);
  const orgId = newId();
  const rootServiceId = newId();
  const t = now();
  await trx
    .insertInto('organisations')
    .values({ id: orgId, ods_code: o.odsCode, name: o.name, kind: o.kind, review_window_hours: o.reviewWindowHours ?? 0, target_days_critical: 1, target_days_other: 5, created_at: t })
    .execute();
  await trx
    .insertInto('services')
    .values({ id: rootServiceId, org_id: orgId, parent_id: null, code: o.odsCode, name: o.name, kind: 'organisation', path: `/${rootServiceId}/`, depth: 0, created_at: t })
    .execute();
  await insertHashtags(trx, rootServiceId, o.hashtags ?? []);
  await appendEvent(trx, dialect, { type: 'organisation.created', orgId, subject: o.odsCode, data: { name: o.name, kind: o.kind } });
  return { orgId, rootServiceId };
}

export async function addService(trx: Conn, dialect: DbHandle['dialect'], parentCode: string, s: NewService): Promise<string> {
  if (!CODE_PATTERN.test(s.code)) throw new AppError('bad_code', 400, `"${s.code}" is not a valid service code`);
  if (!isServiceKind(s.kind)) throw new AppError('bad_kind', 400, `"${s.kind}" is not a service kind`);
  const parent = await trx.selectFrom('services').selectAll().where('code', '=', parentCode).executeTakeFirst();
  if (!parent) throw notFound(`service ${parentCode}`, 'service_not_found');
  const exists = await trx.selectFrom('services').select('id').where('code', '=', s.code).executeTakeFirst();
  if (exists) throw new AppError('code_taken', 409, `The code ${s.code} is already in the directory`);
  const id = newId();
  await trx
    .insertInto('services')
    .values({ id, org_id: parent.org_id, parent_id: parent.id, code: s.code, name: s.name, kind: s.kind, path: `${parent.path}${id}/`, depth: parent.depth + 1, created_at: now() })
    .execute();
  await insertHashtags(trx, id, s.hashtags ?? []);
  await appendEvent(trx, dialect, { type: 'service.created', orgId: parent.org_id, subject: s.code, data: { name: s.name, kind: s.kind, parent: parentCode } });
  return id;
}

export async function serviceByCode(db: Conn, code: string): Promise<ServiceRow | undefined> {
  return db.selectFrom('services').selectAll().where('code', '=', code).executeTakeFirst();
}

/** Ids of a service and everything below it. */
export async function subtreeIds(db: Conn, service: Pick<ServiceRow, 'path'>): Promise<string[]> {
  const rows = await db.selectFrom('services').select('id').where('path', 'like', `${service.path}%`).execute();
  return rows.map((r) => r.id);
}

export async function ancestorsOf(db: Conn, service: ServiceRow): Promise<ServiceRow[]> {
  const ids = service.path.split('/').filter(Boolean).slice(0, -1);
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('services').selectAll().where('id', 'in', ids).execute();
  return rows.sort((a, b) => a.depth - b.depth);
}

export async function childrenOf(db: Conn, serviceId: string): Promise<ServiceRow[]> {
  const rows = await db.selectFrom('services').selectAll().where('parent_id', '=', serviceId).execute();
  // Natural order, so Ward 7 comes before Ward 12 as people expect.
  return rows.sort((a, b) => a.name.localeCompare(b.name, 'en-GB', { numeric: true }));
}

export async function hashtagsFor(db: Conn, serviceIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (serviceIds.length === 0) return out;
  const rows = await db.selectFrom('service_hashtags').select(['service_id', 'display']).where('service_id', 'in', serviceIds).orderBy('display').execute();
  for (const r of rows) {
    if (!out.has(r.service_id)) out.set(r.service_id, []);
    out.get(r.service_id)!.push(`#${r.display}`);
  }
  return out;
}

/** Finds services by name (words in any order), exact code, or hashtag (with or without `#`). */
export async function searchServices(db: Db, q: string, limit = 20): Promise<ServiceRow[]> {
  const query = q.trim().slice(0, 100);
  if (!query) return [];
  const tag = query.replace(/^#/, '').toLowerCase();
  const words = query.toLowerCase().split(/\s+/).filter(Boolean).slice(0, 6);
  const escape = (w: string) => w.replace(/[\\%_]/g, (c) => `\\${c}`);
  return db
    .selectFrom('services')
    .selectAll()
    .where((eb) =>
      eb.or([
        eb(sql`lower(code)`, '=', query.toLowerCase()),
        eb('id', 'in', eb.selectFrom('service_hashtags').select('service_id').where('tag', '=', tag)),
        eb.and(words.map((w) => eb(sql`lower(name)`, 'like', sql<string>`${`%${escape(w)}%`} ESCAPE '\\'`))),
      ]),
    )
    .orderBy('depth')
    .orderBy('name')
    .limit(limit)
    .execute();
}

export interface ServiceView {
  code: string;
  name: string;
  kind: string;
  organisation: { code: string; name: string; kind: string };
  parent: { code: string; name: string } | null;
  hashtags: string[];
}

/** The public shape of services (API and pages), built with one query per kind of thing. */
export async function presentServices(db: Db, rows: ServiceRow[]): Promise<ServiceView[]> {
  if (rows.length === 0) return [];
  const orgIds = [...new Set(rows.map((r) => r.org_id))];
  const parentIds = [...new Set(rows.map((r) => r.parent_id).filter((x): x is string => !!x))];
  const [orgs, parents, tags] = await Promise.all([
    db.selectFrom('organisations').select(['id', 'ods_code', 'name', 'kind']).where('id', 'in', orgIds).execute(),
    parentIds.length ? db.selectFrom('services').select(['id', 'code', 'name']).where('id', 'in', parentIds).execute() : Promise.resolve([]),
    hashtagsFor(db, rows.map((r) => r.id)),
  ]);
  const orgById = new Map(orgs.map((o) => [o.id, o]));
  const parentById = new Map(parents.map((p) => [p.id, p]));
  return rows.map((r) => {
    const org = orgById.get(r.org_id)!;
    const parent = r.parent_id ? parentById.get(r.parent_id) : undefined;
    return {
      code: r.code,
      name: r.name,
      kind: r.kind,
      organisation: { code: org.ods_code, name: org.name, kind: org.kind },
      parent: parent ? { code: parent.code, name: parent.name } : null,
      hashtags: tags.get(r.id) ?? [],
    };
  });
}
