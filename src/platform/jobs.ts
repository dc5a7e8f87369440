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
export type JobHandler = (payload: unknown, ctx: JobContext) => Promise<void>;

export interface EnqueueOptions {
  kind: string;
  payload: unknown;
  /** A second job with the same key is dropped: makes enqueueing idempotent too. */
  dedupeKey?: string;
  runAt?: Date;
  maxAttempts?: number;
}

export async function enqueue(trx: Transaction<Database> | Kysely<Database>, o: EnqueueOptions): Promise<void> {
  await trx
    .insertInto('jobs')
    .values({
      kind: o.kind,
      payload: JSON.stringify(o.payload ?? null),
      dedupe_key: o.dedupeKey ?? null,
      status: 'queued',
      attempts: 0,
      max_attempts: o.maxAttempts ?? 10,
      run_at: (o.runAt ?? new Date()).toISOString(),
      locked_until: null,
      last_error: null,
      created_at: now(),
      done_at: null,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .execute();
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
}

export class JobWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
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

  /** Finishes the job in hand, then stops; a job not yet claimed stays queued for the next start. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  /** Called after enqueueing in this process so new work starts at once, not at the next poll. */
  wake(): void {
    this.wakeUp?.();
  }

  /** Runs every job that is due now, then returns how many ran (tests and the CLI use it). */
  async drain(limit = 10_000): Promise<number> {
    let n = 0;
    while (n < limit && (await this.runOne())) n++;
    return n;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = false;
      try {
        worked = await this.runOne();
      } catch (err) {
        // The database may be restarting: wait and try again rather than die.
        this.opts.log.warn({ err }, 'job loop could not claim a job');
      }
      if (!worked && this.running) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.opts.pollMs ?? 500);
          this.wakeUp = () => {
            clearTimeout(t);
            resolve();
          };
        });
        this.wakeUp = undefined;
      }
    }
  }

  private async claim(): Promise<Selectable<JobTable> | undefined> {
    const t = now();
    const lease = new Date(Date.now() + (this.opts.leaseMs ?? 60_000)).toISOString();
    const kinds = Object.keys(this.opts.handlers);
    if (kinds.length === 0) return undefined;
    const lock = this.handle.dialect === 'postgres' ? sql`FOR UPDATE SKIP LOCKED` : sql``;
    const kindList = sql.join(kinds);
    const result = await sql<Selectable<JobTable>>`
      UPDATE jobs SET status = 'running', attempts = attempts + 1, locked_until = ${lease}
      WHERE id = (
        SELECT id FROM jobs
        WHERE kind IN (${kindList})
          AND ((status = 'queued' AND run_at <= ${t}) OR (status = 'running' AND locked_until < ${t}))
        ORDER BY run_at, id LIMIT 1 ${lock}
      )
      RETURNING *`.execute(this.handle.db);
    return result.rows[0];
  }

  private async runOne(): Promise<boolean> {
    const job = await this.claim();
    if (!job) return false;
    const handler = this.opts.handlers[job.kind]!;
    const log = this.opts.log.child({ job: job.id, kind: job.kind, worker: this.id });
    if (job.attempts > job.max_attempts) {
      // Taken back from dead workers too often: a job that kills its process must not loop forever.
      log.error({ attempt: job.attempts }, 'job failed for good: its workers kept dying');
      await this.handle.db.updateTable('jobs').set({ status: 'failed', locked_until: null, last_error: 'worker died while running it too many times' }).where('id', '=', job.id).execute();
      return true;
    }
    try {
      await handler(JSON.parse(job.payload), { jobId: job.id, attempt: job.attempts, log });
      await this.handle.db
        .updateTable('jobs')
        .set({ status: 'done', done_at: now(), locked_until: null, last_error: null })
        .where('id', '=', job.id)
        .execute();
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
    }
    return true;
  }
}
