import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root, wherever the benchmark is started from (the CLI, tsx, another cwd). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
