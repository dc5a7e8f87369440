import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
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

/**
 * The key that encrypts channel secrets (access tokens, webhook keys) at rest. SECRETS_KEY wins;
 * otherwise a random key is made once in DATA_DIR/secrets.key (readable by its owner only). The key
 * is never in the database, so a copied database or backup does not give the tokens away. Several
 * app servers on one PostgreSQL database must share SECRETS_KEY.
 */
export function secretsKey(config: { secretsKey: string | undefined; dataDir: string }): Buffer {
  if (config.secretsKey) return Buffer.from(config.secretsKey, 'base64');
  const file = path.join(config.dataDir, 'secrets.key');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    try {
      fs.writeFileSync(file, crypto.randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process made it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte base64 key`);
  return key;
}

/** AES-256-GCM: `v1.<iv>.<tag>.<ciphertext>` in base64url; tampering fails to open. */
export function seal(key: Buffer, plain: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), data].map((x) => (typeof x === 'string' ? x : x.toString('base64url'))).join('.');
}

export function unseal(key: Buffer, sealed: string): string {
  const [v, iv, tag, data] = sealed.split('.');
  if (v !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed secret');
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}
