import fs from 'node:fs';
import type SqliteDatabase from 'better-sqlite3';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.ts';

export type Work<T> = (trx: Transaction<Database>) => Promise<T>;

interface Pending {
  work: Work<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

/**
 * Group commit for SQLite, where one story per fsynced commit held the server to a few hundred
 * stories a second whatever the CPU: better-sqlite3 is synchronous, so the event loop stood still
 * for every fsync.
 *
 * - Units of work that arrive together share one transaction: each runs inside its own savepoint,
 *   so one that fails is undone alone and its caller gets its own error, while the others commit.
 * - The group's COMMIT is made with `synchronous=NORMAL`: SQLite writes its frames to the WAL and
 *   returns without waiting for the disk. The WAL file is then fsynced on a libuv thread (`walSync`),
 *   while the event loop goes on reading requests and the next group is written; one fsync serves
 *   every group committed before it began.
 * - Each caller's promise settles only after that fsync, so an acknowledged story survives power
 *   loss as it did with `synchronous=FULL` on every commit, which the rest of the app keeps. If the
 *   commit fails, every caller in the group gets the error and none of their work is kept; if the
 *   fsync fails, they get that error (their work may be stored, but nobody was told it was).
 *
 * The first unit is written on the next turn of the event loop (setImmediate), after the requests
 * already read from the network have queued theirs; while a group is being written, the next
 * gathers. A lone request waits for nothing more than one turn and one fsync.
 */
export function groupCommit(db: Kysely<Database>, o: { sqlite?: SqliteDatabase.Database; walFile?: string; maxGroup?: number } = {}): <T>(work: Work<T>) => Promise<T> {
  const maxGroup = o.maxGroup ?? 256;
  const durable = o.sqlite && o.walFile ? { sqlite: o.sqlite, sync: walSync(o.walFile) } : undefined;
  let queue: Pending[] = [];
  let scheduled = false;
  let writing = false;

  const schedule = () => {
    if (scheduled || writing || queue.length === 0) return;
    scheduled = true;
    setImmediate(() => void flush());
  };

  const runUnits = (group: Pending[]) => async (trx: Transaction<Database>) => {
    const out: Outcome[] = [];
    for (const p of group) {
      await sql`SAVEPOINT unit`.execute(trx);
      try {
        const value = await p.work(trx);
        await sql`RELEASE unit`.execute(trx);
        out.push({ ok: true, value });
      } catch (err) {
        await sql`ROLLBACK TO unit`.execute(trx);
        await sql`RELEASE unit`.execute(trx);
        out.push({ ok: false, err });
      }
    }
    return out;
  };

  /** One transaction for the group; with `durable`, committed without waiting for the disk. */
  const commit = (group: Pending[]): Promise<Outcome[]> => {
    if (!durable) return db.transaction().execute(runUnits(group));
    // The safety level can only change outside a transaction, and only this group may commit
    // under the lower one: the connection is held from before BEGIN to after COMMIT.
    return db.connection().execute(async (conn) => {
      durable.sqlite.pragma('synchronous = NORMAL');
      try {
        return await conn.transaction().execute(runUnits(group));
      } finally {
        durable.sqlite.pragma('synchronous = FULL');
      }
    });
  };

  async function flush(): Promise<void> {
    scheduled = false;
    writing = true;
    const group = queue.slice(0, maxGroup);
    queue = queue.slice(group.length);
    let outcomes: Outcome[];
    try {
      outcomes = await commit(group);
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    } finally {
      writing = false;
      schedule();
    }
    try {
      await durable?.sync();
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    outcomes.forEach((r, i) => (r.ok ? group[i]!.resolve(r.value) : group[i]!.reject(r.err)));
  }

  return <T>(work: Work<T>) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      schedule();
    });
}

/**
 * fsync of the WAL file off the event loop. A caller needs an fsync that began after its commit
 * returned: if one is running, it may have begun before, so the caller waits for the next one,
 * which everyone who asks meanwhile shares. The file is opened once, and again if SQLite ever
 * replaces it (a different inode under the same name).
 */
export function walSync(walFile: string): () => Promise<void> {
  let fd: number | undefined;
  let ino: number | undefined;
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;

  const fsyncNow = async () => {
    const current = fs.statSync(walFile).ino;
    if (fd === undefined || ino !== current) {
      if (fd !== undefined) fs.closeSync(fd);
      fd = fs.openSync(walFile, 'r+');
      ino = fs.fstatSync(fd).ino;
    }
    const handle = fd;
    await new Promise<void>((resolve, reject) => fs.fsync(handle, (err) => (err ? reject(err) : resolve())));
  };

  const sync = (): Promise<void> => {
    if (!running) {
      running = fsyncNow().finally(() => {
        running = undefined;
      });
      return running;
    }
    next ??= running
      .catch(() => {})
      .then(() => {
        next = undefined;
        return sync();
      });
    return next;
  };
  return sync;
}
