// A worker thread of the analysis pool (see analyse-pool.ts). Workers do not inherit the main
// thread's TypeScript loader, so each registers tsx before loading the models.
import fs from 'node:fs';
import os from 'node:os';
import { register } from 'tsx/esm/api';

// Analysis is background work: on Linux this thread asks for a lower priority (a higher nice
// value, for this thread alone), so the event loop that answers people, and anything else on the
// machine, comes first when the cores are busy; when they are idle it runs at full speed.
try {
  const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) os.setPriority(tid, 10);
} catch {
  // Not Linux, or not allowed: the thread runs at the process's priority.
}

register();
const { analyseBatch } = await import('./analyse.ts');
// The models load now, while the pool starts, rather than in the first batch.
const { warmModels } = await import('./models.ts');
warmModels();

export default analyseBatch;
