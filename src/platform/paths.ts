import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Where the code and the files shipped with it live. Kept apart from views.ts so that what needs
// only a path (the models, in every analysis thread) does not load the template engine.
const here = path.dirname(fileURLToPath(import.meta.url));
export const SRC_DIR = path.resolve(here, '..');
export const ROOT_DIR = path.resolve(SRC_DIR, '..');
/** Where files built from the code are kept between runs (worker bundles, the story models in memory form), as other tools keep theirs. */
export const BUILD_CACHE_DIR = path.join(ROOT_DIR, 'node_modules', '.cache', 'carevoice');
