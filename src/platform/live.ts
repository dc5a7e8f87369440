import type pg from 'pg';
import type { Logger } from 'pino';
import type { DbHandle } from './db/index.ts';
import { appended, EVENTS_CHANNEL, eventsAfter, type StoredEvent } from './events.ts';

/**
 * The live hub: reads new events from the events table as soon as they are committed and hands
 * them, in id order, to its subscribers (the live wall's connections). It is woken by PostgreSQL's
 * NOTIFY (which reaches every app server on the database), by appends in this process (SQLite), and
 * by a slow poll as a safety net (another process writing the SQLite file, a lost LISTEN connection).
 *
 * Ids on PostgreSQL come from a sequence, and transactions can commit out of order: event 11 may be
 * visible before event 10. When a read skips an id, the hub remembers the gap for a while and asks
 * for it again on the next reads, so a late commit is still delivered (a rolled-back id never shows
 * up and its gap expires).
 */
export type LiveListener = (events: StoredEvent[]) => void;

const GAP_TTL_MS = 15_000;
const MAX_GAPS = 10_000;

export class LiveHub {
  private lastId = 0;
  private readonly gaps = new Map<number, number>();
  private readonly listeners = new Set<LiveListener>();
  private reading = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private client: pg.PoolClient | undefined;
  private stopped = true;
  private readonly onAppended = () => this.wake();
  private readonly types: Set<string>;

  constructor(
    private readonly handle: DbHandle,
    private readonly log: Logger,
    private readonly opts: { types: readonly string[]; pollMs?: number },
  ) {
    this.types = new Set(opts.types);
  }

  get position(): number {
    return this.lastId;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    const row = await this.handle.db.selectFrom('events').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst();
    this.lastId = Number(row?.max ?? 0);
    appended.on('event', this.onAppended);
    if (this.handle.dialect === 'postgres') await this.listen();
    this.timer = setInterval(() => this.wake(), this.opts.pollMs ?? (this.handle.dialect === 'postgres' ? 2000 : 1000));
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    appended.off('event', this.onAppended);
    if (this.timer) clearInterval(this.timer);
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('notification');
      this.letGo(c);
    }
  }

  /**
   * Gives a LISTEN connection back to the pool to be closed, once: pg-pool throws on a second
   * release, and a connection that PostgreSQL ends can report more than one error, or report one
   * after the hub has stopped. Nothing would catch that throw.
   */
  private readonly released = new WeakSet<pg.PoolClient>();
  private letGo(client: pg.PoolClient): void {
    if (this.released.has(client)) return;
    this.released.add(client);
    client.release(true);
  }

  subscribe(fn: LiveListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** A dedicated connection LISTENs; if it breaks, the poll carries on and a new one is tried. */
  private async listen(): Promise<void> {
    const pool = this.handle.pool;
    if (!pool || this.stopped) return;
    let client: pg.PoolClient | undefined;
    try {
      const c = (client = await pool.connect());
      c.on('notification', () => this.wake());
      c.on('error', (err) => {
        if (this.released.has(c)) return;
        this.log.warn({ err: err.message }, 'live: LISTEN connection lost; retrying');
        if (this.client === c) this.client = undefined;
        this.letGo(c);
        setTimeout(() => void this.listen(), 1000).unref();
      });
      await c.query(`LISTEN ${EVENTS_CHANNEL}`);
      if (this.stopped) return this.letGo(c);
      this.client = c;
      this.wake();
    } catch (err) {
      // Its 'error' listener may have let it go and planned the next try already.
      const planned = client !== undefined && this.released.has(client);
      if (client) this.letGo(client);
      if (planned) return;
      this.log.warn({ err: (err as Error).message }, 'live: cannot LISTEN yet; polling meanwhile');
      setTimeout(() => void this.listen(), 2000).unref();
    }
  }

  wake(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    void this.read().finally(() => {
      this.reading = false;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async read(): Promise<void> {
    try {
      for (;;) {
        const batch = await eventsAfter(this.handle.db, { after: this.lastId, limit: 500 });
        const late = await this.lateEvents();
        this.noteGaps(batch.map((e) => e.id));
        if (batch.length) this.lastId = Math.max(this.lastId, batch[batch.length - 1]!.id);
        const events = [...late, ...batch].filter((e) => this.types.has(e.type));
        if (events.length) {
          events.sort((a, b) => a.id - b.id);
          for (const fn of this.listeners) {
            try {
              fn(events);
            } catch (err) {
              this.log.error({ err }, 'live: a subscriber failed');
            }
          }
        }
        if (batch.length < 500) return;
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'live: reading events failed; will retry');
    }
  }

  private noteGaps(ids: number[]): void {
    let expect = this.lastId + 1;
    const until = Date.now() + GAP_TTL_MS;
    for (const id of ids) {
      for (let g = expect; g < id && this.gaps.size < MAX_GAPS; g++) this.gaps.set(g, until);
      expect = id + 1;
    }
  }

  private async lateEvents(): Promise<StoredEvent[]> {
    if (!this.gaps.size) return [];
    const t = Date.now();
    for (const [id, until] of this.gaps) if (until < t) this.gaps.delete(id);
    const ids = [...this.gaps.keys()];
    if (!ids.length) return [];
    const rows = await this.handle.db.selectFrom('events').select('id').where('id', 'in', ids).execute();
    if (!rows.length) return [];
    for (const r of rows) this.gaps.delete(r.id);
    const found = new Set(rows.map((r) => r.id));
    const min = Math.min(...found) - 1;
    const events = await eventsAfter(this.handle.db, { after: min, limit: 500 });
    return events.filter((e) => found.has(e.id));
  }
}
