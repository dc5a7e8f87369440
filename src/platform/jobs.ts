import os from 'node:os';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Selectable } from 'kysely';
import type { Database, JobTable } from './db/schema.ts';
import type { DbHandle } from './db/index.ts';
import { now } from './db/index.ts';

/**
 * Durable background work. A job is a row written in the same transaction as the change that
 * needs it (an outbox), so it cannot be lost or run for a change that rolled back. Workers claim a
 * job with a lease; a worker that dies leaves the lease to expire and another takes the job again:
 * delivery is at-least-once, so every handler must be idempotent (they get the job id to key on).
 */
export interface JobContext {
  jobId: number;
  attempt: number;
  log: Logger;
}
/**
 * Runs one job. A handler may also take many jobs of its kind at once (`batch`): the worker
 * claims up to `batchSize` due jobs together, and gives a batch handler all of its kind; if the
 * batch fails, each job is run alone, so one bad job is retried alone.
 */
export type JobHandler = ((payload: unknown, ctx: JobContext) => Promise<void>) & { batch?: (jobs: Array<{ payload: unknown; jobId: number }>, log: Logger) => Promise<void> };

export interface EnqueueOptions {
  kind: string;
  payload: unknown;
  /** A second job with the same key is dropped: makes enqueueing idempotent too. */
  dedupeKey?: string;
  runAt?: Date;
  maxAttempts?: number;
}

export async function enqueue(trx: Transaction<Database> | Kysely<Database>, o: EnqueueOptions): Promise<void> {
  await enqueueMany(trx, [o]);
}

/** Many jobs in one statement per 200; a job whose dedupe key exists already is dropped, as one alone would be. */
export async function enqueueMany(trx: Transaction<Database> | Kysely<Database>, jobs: readonly EnqueueOptions[]): Promise<void> {
  const t = now();
  for (let i = 0; i < jobs.length; i += 200) {
    await trx
      .insertInto('jobs')
      .values(
        jobs.slice(i, i + 200).map((o) => ({
          kind: o.kind,
          payload: JSON.stringify(o.payload ?? null),
          dedupe_key: o.dedupeKey ?? null,
          status: 'queued',
          attempts: 0,
          max_attempts: o.maxAttempts ?? 10,
          run_at: (o.runAt ?? new Date()).toISOString(),
          locked_until: null,
          last_error: null,
          created_at: t,
          done_at: null,
        })),
      )
      .onConflict((oc) => oc.column('dedupe_key').doNothing())
      .execute();
  }
}

/** Exponential back-off with jitter, capped at one hour. */
export function backoffMs(attempt: number, random = Math.random): number {
  const base = Math.min(3_600_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

export interface WorkerOptions {
  handlers: Record<string, JobHandler>;
  log: Logger;
  pollMs?: number;
  leaseMs?: number;
  /** Jobs claimed at once (one commit for the claim, one for marking them done). */
  batchSize?: number;
  /**
   * Says whether the process is busy answering people (the server counts requests). While it is,
   * the loop takes small steps and rests between them (nine times as long as the step took, at
   * least `yieldMs`): background work waits for a burst to pass, then catches up; it is slowed,
   * never stopped.
   */
  busy?: () => boolean;
  yieldMs?: number;
  /**
   * Work this loop does before its jobs on every turn: the story intake (stories told, to be
   * checked and stored; see stories/intake.ts), up to `limit` items (fewer while busy). Returns
   * how many it took.
   */
  intake?: (limit: number) => Promise<number>;
}

const INTAKE_BATCH = 200;
const INTAKE_BATCH_WHILE_BUSY = 16;

export class JobWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  /** Ends the loop's current rest (idle, or yielding to requests). */
  private endRest: (() => void) | undefined;
  private yielding = false;
  private readonly id = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly handle: DbHandle,
    private readonly opts: WorkerOptions,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Finishes the jobs in hand, then stops; a job not yet claimed stays queued for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    this.endRest?.();
    await this.loop;
  }

  /** Called after enqueueing in this process so new work starts at once, not at the next poll. */
  wake(): void {
    // New work ends an idle rest at once; a loop that is yielding to requests keeps to its pace.
    if (!this.yielding) this.endRest?.();
  }

  /** Runs every job that is due now, then returns how many ran (tests and the CLI use it). */
  async drain(limit = 10_000): Promise<number> {
    let n = 0;
    for (let ran = -1; n < limit && ran !== 0; n += ran) ran = ((await this.opts.intake?.(INTAKE_BATCH)) ?? 0) + (await this.runBatch(limit - n));
    return n;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = false;
      const started = performance.now();
      // While people are being answered, small steps: storing a batch of stories holds the event
      // loop (SQLite is synchronous) for as long as it takes. The intake and the jobs fail apart:
      // a fault in one must not stop the other (mail, alerts, publishing).
      const step = this.yielding ? INTAKE_BATCH_WHILE_BUSY : INTAKE_BATCH;
      try {
        worked = ((await this.opts.intake?.(step)) ?? 0) > 0;
      } catch (err) {
        // The database may be restarting: wait and try again rather than die.
        this.opts.log.warn({ err }, 'job loop could not store the story intake');
      }
      try {
        worked = (await this.runBatch(this.yielding ? step : Infinity)) > 0 || worked;
      } catch (err) {
        this.opts.log.warn({ err }, 'job loop could not claim a job');
      }
      this.yielding = worked && this.opts.busy?.() === true;
      if ((!worked || this.yielding) && this.running) {
        // Yielding, the loop takes at most a tenth of the time: it rests nine times as long as it
        // worked, and at least yieldMs.
        const ms = this.yielding ? Math.max(this.opts.yieldMs ?? 200, 9 * (performance.now() - started)) : (this.opts.pollMs ?? 500);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, ms);
          this.endRest = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.endRest = undefined;
      }
    }
  }

  private async claim(limit: number): Promise<Array<Selectable<JobTable>>> {
    const t = now();
    const lease = new Date(Date.now() + (this.opts.leaseMs ?? 60_000)).toISOString();
    const kinds = Object.keys(this.opts.handlers);
    if (kinds.length === 0) return [];
    const lock = this.handle.dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
    const kindList = sql.join(kinds);
    // Two ranges of the (status, run_at) index, each read in order and cut at the limit: due jobs,
    // and jobs whose worker's lease ran out. (One WHERE with an OR gathered and sorted every queued
    // job, which with a backlog of thousands cost milliseconds per claim.)
    const result = await sql<Selectable<JobTable>>`
      UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = ${lease}
      WHERE id IN (
        SELECT id FROM (
          SELECT id, run_at FROM (
            SELECT id, run_at FROM jobs WHERE status = 'queued' AND run_at <= ${t} AND kind IN (${kindList})
            ORDER BY run_at, id LIMIT ${limit} ${lock}
          ) AS due
          UNION ALL
          SELECT id, run_at FROM (
            SELECT id, run_at FROM jobs WHERE status = 'running' AND locked_until < ${t} AND kind IN (${kindList})
            ORDER BY run_at, id LIMIT ${limit} ${lock}
          ) AS abandoned
        ) AS claimable
        ORDER BY run_at, id LIMIT ${limit}
      )
      RETURNING *`.execute(this.handle.db);
    return result.rows.sort((a, b) => (a.run_at < b.run_at ? -1 : a.run_at > b.run_at ? 1 : a.id - b.id));
  }

  /** Claims up to a batch of due jobs and runs them; returns how many it claimed. */
  private async runBatch(limit = Infinity): Promise<number> {
    const jobs = await this.claim(Math.max(1, Math.min(limit, this.opts.batchSize ?? 50)));
    const done: number[] = [];
    const alone: Array<Selectable<JobTable>> = [];
    const byKind = new Map<string, Array<Selectable<JobTable>>>();
    for (const job of jobs) {
      if (job.attempts > job.max_attempts) {
        // Taken back from dead workers too often: a job that kills its process must not loop forever.
        this.opts.log.error({ job: job.id, kind: job.kind, attempt: job.attempts }, 'job failed for good: its workers kept dying');
        await this.handle.db.updateTable('jobs').set({ status: 'failed', locked_until: null, last_error: 'worker died while running it too many times' }).where('id', '=', job.id).execute();
      } else if (this.opts.handlers[job.kind]!.batch) {
        const group = byKind.get(job.kind) ?? [];
        group.push(job);
        byKind.set(job.kind, group);
      } else alone.push(job);
    }
    for (const [kind, group] of byKind) {
      if (group.length === 1) {
        alone.push(group[0]!);
        continue;
      }
      try {
        await this.opts.handlers[kind]!.batch!(group.map((j) => ({ payload: JSON.parse(j.payload) as unknown, jobId: j.id })), this.opts.log.child({ kind, jobs: group.length, worker: this.id }));
        done.push(...group.map((j) => j.id));
      } catch (err) {
        this.opts.log.warn({ err: err instanceof Error ? err.message : String(err), kind, jobs: group.length }, 'batch failed; running its jobs one by one');
        alone.push(...group);
      }
    }
    for (const job of alone.sort((a, b) => a.id - b.id)) if (await this.runOne(job)) done.push(job.id);
    if (done.length) {
      await this.handle.db.updateTable('jobs').set({ status: 'done', done_at: now(), locked_until: null, last_error: null }).where('id', 'in', done).execute();
    }
    return jobs.length;
  }

  /** Runs one claimed job; true when it succeeded (the caller marks it done). */
  private async runOne(job: Selectable<JobTable>): Promise<boolean> {
    const handler = this.opts.handlers[job.kind]!;
    const log = this.opts.log.child({ job: job.id, kind: job.kind, worker: this.id });
    try {
      await handler(JSON.parse(job.payload), { jobId: job.id, attempt: job.attempts, log });
      return true;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const failed = job.attempts >= job.max_attempts;
      log[failed ? 'error' : 'warn']({ err: message, attempt: job.attempts }, failed ? 'job failed for good' : 'job failed, will retry');
      await this.handle.db
        .updateTable('jobs')
        .set({
          status: failed ? 'failed' : 'queued',
          run_at: new Date(Date.now() + backoffMs(job.attempts)).toISOString(),
          locked_until: null,
          last_error: message.slice(0, 2000),
        })
        .where('id', '=', job.id)
        .execute();
      return false;
    }
  }
}
