import { EventEmitter } from 'node:events';
import { sql, type Transaction, type Kysely } from 'kysely';
import type { Database } from './db/schema.ts';
import { now } from './db/index.ts';

/**
 * The events table is the spine: the audit trail, the public timeline, live updates and
 * notifications all read it by cursor (its monotonic id). An event is always appended inside the
 * transaction of the change it records, so one never exists without the other.
 */
export interface NewEvent {
  type: string;
  orgId?: string | null;
  subject?: string | null;
  actorId?: string | null;
  data?: Record<string, unknown>;
}

export const EVENTS_CHANNEL = 'carevoice_events';

/**
 * Rings in this process whenever an event is appended, so the live hub reads at once on SQLite
 * (PostgreSQL rings every server through NOTIFY instead). The hub's read queues behind the open
 * transaction on the single SQLite connection, so it sees the event only once it is committed.
 */
export const appended = new EventEmitter();
appended.setMaxListeners(0);

export async function appendEvent(trx: Transaction<Database> | Kysely<Database>, dialect: 'sqlite' | 'postgres', e: NewEvent): Promise<number> {
  return (await appendEvents(trx, dialect, [e]))[0]!;
}

/** Events in as few statements as may be (a batch of stories stored together); one wake-up for them all. Returns their ids. */
export async function appendEvents(trx: Transaction<Database> | Kysely<Database>, dialect: 'sqlite' | 'postgres', events: readonly NewEvent[]): Promise<number[]> {
  if (events.length === 0) return [];
  const t = now();
  const ids: number[] = [];
  // 200 rows of 6 values stay far below both databases' limits on parameters.
  for (let i = 0; i < events.length; i += 200) {
    const rows = await trx
      .insertInto('events')
      .values(events.slice(i, i + 200).map((e) => ({ type: e.type, org_id: e.orgId ?? null, subject: e.subject ?? null, actor_id: e.actorId ?? null, data: JSON.stringify(e.data ?? {}), created_at: t })))
      .returning('id')
      .execute();
    ids.push(...rows.map((r) => r.id));
  }
  const last = Math.max(...ids);
  // Delivered by PostgreSQL only when the transaction commits, to every listening app server.
  if (dialect === 'postgres') await sql`SELECT pg_notify(${EVENTS_CHANNEL}, ${String(last)})`.execute(trx);
  queueMicrotask(() => appended.emit('event', last));
  return ids;
}

export interface StoredEvent {
  id: number;
  type: string;
  orgId: string | null;
  subject: string | null;
  actorId: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export async function eventsAfter(
  db: Kysely<Database>,
  opts: { after: number; limit?: number; orgIds?: string[]; types?: string[]; subject?: string },
): Promise<StoredEvent[]> {
  let q = db.selectFrom('events').selectAll().where('id', '>', opts.after);
  if (opts.orgIds) q = q.where('org_id', 'in', opts.orgIds.length ? opts.orgIds : ['']);
  if (opts.types) q = q.where('type', 'in', opts.types);
  if (opts.subject) q = q.where('subject', '=', opts.subject);
  const rows = await q.orderBy('id').limit(opts.limit ?? 500).execute();
  return rows.map((r) => ({
    id: r.id,
    type: r.type,
    orgId: r.org_id,
    subject: r.subject,
    actorId: r.actor_id,
    data: JSON.parse(r.data) as Record<string, unknown>,
    createdAt: r.created_at,
  }));
}
