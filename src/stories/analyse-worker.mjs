// A worker thread of the analysis pool (see analyse-pool.ts). Workers do not inherit the main
// thread's TypeScript loader, so each registers tsx before loading the models.
import { register } from 'tsx/esm/api';

register();
const { analyseBatch } = await import('./analyse.ts');

export default analyseBatch;
