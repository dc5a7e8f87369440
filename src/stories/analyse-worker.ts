// A worker thread of the analysis pool. It runs as plain JavaScript, bundled by analyse-pool.ts
// before the pool starts (see bundleWorker there), so no TypeScript loader starts in the thread.
import fs from 'node:fs';
import os from 'node:os';
import { analyseBatch } from './analyse.ts';
import { warmModels } from './models.ts';

// Analysis is background work: on Linux this thread asks for a lower priority (a higher nice
// value, for this thread alone), so the event loop that answers people, and anything else on the
// machine, comes first when the cores are busy; when they are idle it runs at full speed.
try {
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 10);
} catch {
  // Not Linux, or not allowed: the thread runs at the process's priority.
}

// The models load now, while the pool starts, rather than in the first batch.
warmModels();

export default analyseBatch;
