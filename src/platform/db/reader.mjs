// A reader thread (see readers.ts): its own connection to the SQLite file, for read-only queries.
import { workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const db = new Database(workerData.file, { fileMustExist: true });
// This connection never writes, whatever it is sent.
db.pragma('query_only = ON');
db.pragma('busy_timeout = 5000');
// Its own page cache, beside the main connection's: 4 MiB (searches read the same few lists).
db.pragma('cache_size = -4096');

const statements = new Map();

export default function read({ sql, parameters }) {
  try {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      if (statements.size >= 200) statements.delete(statements.keys().next().value);
      statements.set(sql, statement);
    }
    return statement.all(parameters);
  } catch (err) {
    // better-sqlite3's own error class loses its message on the way back to the event loop.
    throw Object.assign(new Error(err instanceof Error ? err.message : String(err)), { code: err?.code });
  }
}
