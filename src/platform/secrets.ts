import type { Db } from './db/index.ts';
import { randomToken } from './auth/tokens.ts';

/**
 * The cookie-signing secret. SESSION_SECRET wins when set; otherwise one is made on first start and
 * kept in the settings table, so a laptop needs no configuration and several app servers over one
 * PostgreSQL database agree on it.
 */
export async function cookieSecret(db: Db, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  await db
    .insertInto('settings')
    .values({ key: 'cookie_secret', value: randomToken(48) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const row = await db.selectFrom('settings').select('value').where('key', '=', 'cookie_secret').executeTakeFirstOrThrow();
  return row.value;
}
