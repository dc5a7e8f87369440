// The story intake's writer thread (see intake-writer.ts): its own connection to the SQLite file,
// appending the stories the event loop sends it, as many as have arrived in one transaction.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.file);
db.pragma('journal_mode = WAL');
// Every commit here waits for the disk: this thread, not the event loop, is what waits. (Committing
// with synchronous=NORMAL and fsyncing the WAL on a libuv thread, so the next group could be written
// during the fsync, measured slower: 6,300 stories a second against 7,400.)
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 10000');
db.pragma('foreign_keys = ON');

// As admitStory (intake.ts) does: a reference or idempotency key of a story already stored.
const refTaken = db.prepare('SELECT 1 FROM stories WHERE ref = ?').pluck();
const keyTaken = db.prepare('SELECT 1 FROM stories WHERE idempotency_key = ?').pluck();
const insert = db.prepare('INSERT INTO story_intake (story_id, ref, idempotency_key, payload, received_at) VALUES (?, ?, ?, ?, ?)');
const begin = db.prepare('BEGIN IMMEDIATE');
const commit = db.prepare('COMMIT');
const rollback = db.prepare('ROLLBACK');

let queue = [];
let scheduled = false;

function failure(err) {
  const message = err instanceof Error ? err.message : String(err);
  return { message, code: err && typeof err === 'object' && 'code' in err ? String(err.code) : undefined };
}

function write() {
  scheduled = false;
  const group = queue;
  queue = [];
  const results = [];
  try {
    begin.run();
    for (const a of group) {
      try {
        if (refTaken.get(a.ref)) {
          results.push({ id: a.id, error: { message: `The story reference ${a.ref} is taken`, code: 'ref_taken' } });
        } else if (a.idempotencyKey !== null && keyTaken.get(a.idempotencyKey)) {
          // The same words as IDEMPOTENCY_TAKEN in intake.ts.
          results.push({ id: a.id, error: { message: 'The idempotency key is taken by a stored story', code: 'idempotency_taken' } });
        } else {
          insert.run(a.storyId, a.ref, a.idempotencyKey, a.payload, a.receivedAt);
          results.push({ id: a.id });
        }
      } catch (err) {
        // A constraint failed (a key or reference taken in the intake itself): SQLite undoes that
        // statement alone and the transaction goes on, so no savepoint is needed around each story.
        // An error that ended the transaction (a full disk, say) fails the whole group, below.
        if (!db.inTransaction) throw err;
        results.push({ id: a.id, error: failure(err) });
      }
    }
    commit.run();
  } catch (err) {
    if (db.inTransaction) rollback.run();
    // Nothing of the group was kept: every caller gets the error.
    parentPort.postMessage(group.map((a) => ({ id: a.id, error: failure(err) })));
    return;
  }
  parentPort.postMessage(results);
}

parentPort.on('message', (m) => {
  if (m === 'stop') {
    if (queue.length) write();
    db.close();
    parentPort.close();
    return;
  }
  // Six fields a story (intake-writer.ts), the payload as the JSON text it is stored as.
  for (let i = 0; i + 5 < m.length; i += 6) queue.push({ id: m[i], storyId: m[i + 1], ref: m[i + 2], idempotencyKey: m[i + 3], payload: m[i + 4], receivedAt: m[i + 5] });
  // Messages that arrived while the last group was written are all here by the next turn.
  if (!scheduled) {
    scheduled = true;
    setImmediate(write);
  }
});
