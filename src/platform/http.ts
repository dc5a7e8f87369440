import type { z } from 'zod';
import { AppError } from './errors.ts';

/** Parses request input with a Zod schema; a failure is a 400 naming each bad field. */
export function parseInput<S extends z.ZodType>(schema: S, data: unknown, code = 'invalid_request'): z.infer<S> {
  const result = schema.safeParse(data ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  const message = fields.map((f) => `${f.field}: ${f.message}`).join('; ');
  throw new AppError(code, 400, message, { fields });
}

/** The per-field problems of a 400 from parseInput (or one use case's own), for showing a form again. */
export function errorFields(err: AppError, fallbackField = ''): Array<{ field: string; message: string }> {
  const d = err.details as { fields?: Array<{ field: string; message: string }> } | undefined;
  return d?.fields ?? [{ field: fallbackField, message: err.message }];
}

// Stories and responses are plain text: a tag in one is almost always pasted by mistake or an
// attack, so markup is refused rather than stored. Other uses of < and & are kept and shown escaped.
const HTML_TAG = /<\s*\/?\s*[a-z!][^>]*>/i;
export const noMarkup = (s: string) => !HTML_TAG.test(s);
export const MARKUP_MESSAGE = 'must not contain HTML tags';

/** Opaque cursors for lists: base64url of a small JSON object; a tampered cursor is a 400. */
export function encodeCursor(value: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T extends Record<string, string | number>>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (!cursor) return undefined;
  try {
    const text = Buffer.from(cursor, 'base64url').toString('utf8');
    const v: unknown = JSON.parse(text);
    // A cursor's values go into queries: only plain short values, never a NUL.
    if (text.length < 300 && !text.includes('\\u0000') && !text.includes('\u0000') && check(v)) return v;
  } catch {
    /* fall through */
  }
  throw new AppError('bad_cursor', 400, 'The cursor is not one this server gave out');
}
