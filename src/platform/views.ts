import path from 'node:path';
import nunjucks from 'nunjucks';
import { KIND_LABELS } from '../directory/kinds.ts';
import { ROOT_DIR, SRC_DIR } from './paths.ts';

export { ROOT_DIR, SRC_DIR };
export const NHSUK_DIR = path.join(ROOT_DIR, 'node_modules', 'nhsuk-frontend', 'dist');

/**
 * Server-rendered pages with the NHS.UK design system's own Nunjucks macros. Templates are found
 * in src/views (layouts, shared partials) and in each feature folder (`directory/views/…`).
 * Autoescape is on: text from users is always escaped unless a template says otherwise.
 */
export function createViews(): nunjucks.Environment {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader([path.join(SRC_DIR, 'views'), SRC_DIR, NHSUK_DIR], { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
  });
  env.addFilter('pluck', (items: Array<Record<string, unknown>> | undefined, key: string) => (items ?? []).map((i) => i[key]));
  env.addFilter('kindLabel', (k: string) => KIND_LABELS[k] ?? k);
  env.addFilter('date', (iso: string) =>
    iso ? new Date(iso).toLocaleDateString('en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'Europe/London' }) : '',
  );
  return env;
}
