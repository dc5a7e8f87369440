import { Worker } from 'node:worker_threads';
import type { DbHandle } from '../platform/db/index.ts';
import { RefTaken, type Admission } from './intake.ts';

/**
 * Appends told stories to the intake from a thread of its own, on SQLite: better-sqlite3 is
 * synchronous, so a commit made on the event loop holds it for the commit's page writes and its
 * fsync. The thread has its own connection to the same file (`intake-writer.mjs`); every story
 * that arrives while it writes one group goes into the next group's single transaction, committed
 * with `synchronous=FULL`, and each caller is answered when that commit has returned: on disk,
 * power loss included. The event loop only posts a message and waits for the answer.
 *
 * If the thread fails, the stories it had not answered get the error (nobody was told they were
 * kept) and the next story starts a new thread.
 */
/** The fields of one story in a message to the thread (see admit and intake-writer.mjs). */
const FIELDS = 6;

export class IntakeWriter {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, { ref: string; resolve: () => void; reject: (err: Error) => void }>();

  constructor(private readonly file: string) {}

  admit(a: Admission): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the story intake is closed'));
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    // Kept alive while a story waits for its answer, and only then.
    if (this.waiting.size === 0) worker.ref();
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { ref: a.ref, resolve, reject });
      // The stories told in one turn of the event loop go to the thread in one message.
      // Six fields a story, the payload as the JSON the intake stores (made once, here): the
      // thread gets one flat array of strings and numbers, which copies with no objects to clone
      // and no second JSON pass over the payload.
      this.outbox.push(id, a.storyId, a.ref, a.idempotencyKey, JSON.stringify(a.payload), a.receivedAt);
      if (this.outbox.length === FIELDS) {
        setImmediate(() => {
          const batch = this.outbox;
          this.outbox = [];
          if (batch.length) (this.worker ?? this.start()).postMessage(batch);
        });
      }
    });
  }

  private outbox: Array<string | number | null> = [];
  private closed = false;

  async close(): Promise<void> {
    this.closed = true;
    const worker = this.worker;
    if (!worker) return;
    this.worker = undefined;
    // Stories told in this turn go before the stop, so each is answered, not left waiting.
    if (this.outbox.length) worker.postMessage(this.outbox.splice(0));
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    worker.postMessage('stop');
    const force = setTimeout(() => void worker.terminate(), 5000);
    await exited;
    clearTimeout(force);
  }

  private start(): Worker {
    const worker = new Worker(new URL('./intake-writer.mjs', import.meta.url), { workerData: { file: this.file } });
    worker.on('message', (results: Array<{ id: number; error?: { message: string; code?: string } }>) => {
      for (const r of results) {
        const w = this.waiting.get(r.id);
        if (!w) continue;
        this.waiting.delete(r.id);
        if (!r.error) w.resolve();
        else if (r.error.code === 'ref_taken') w.reject(new RefTaken(w.ref));
        else w.reject(Object.assign(new Error(r.error.message), { code: r.error.code }));
      }
      if (this.waiting.size === 0) worker.unref();
    });
    const fail = (err: Error) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.outbox = [];
      for (const [id, w] of this.waiting) {
        this.waiting.delete(id);
        w.reject(err);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the intake writer stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }
}

const writers = new WeakMap<DbHandle, IntakeWriter>();

/** The writer thread for this SQLite file, made on first use and stopped when the handle closes. */
export function intakeWriterFor(handle: DbHandle): IntakeWriter | undefined {
  if (!handle.sqliteFile) return undefined;
  let writer = writers.get(handle);
  if (!writer) {
    const made = new IntakeWriter(handle.sqliteFile);
    writers.set(handle, made);
    handle.onClose(() => made.close());
    writer = made;
  }
  return writer;
}
