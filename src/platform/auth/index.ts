import type { Db } from '../db/index.ts';
import { newId, now } from '../db/index.ts';
import { AppError } from '../errors.ts';
import type { Actor, OrgRole, PlatformRole } from './policy.ts';
import { hashPassword, passwordProblem, verifyAgainstDummy, verifyPassword } from './passwords.ts';
import { randomToken, sha256 } from './tokens.ts';

export const SESSION_COOKIE = 'cv_session';
export const SESSION_DAYS = 14;
export const MAX_FAILED_SIGN_INS = 5;
export const LOCKOUT_MINUTES = 15;

export async function loadActor(db: Db, userId: string): Promise<Actor | null> {
  const user = await db.selectFrom('users').select(['id', 'name', 'email', 'platform_role']).where('id', '=', userId).executeTakeFirst();
  if (!user) return null;
  const memberships = await db.selectFrom('memberships').select(['org_id', 'role']).where('user_id', '=', userId).execute();
  const orgRoles = new Map<string, Set<OrgRole>>();
  for (const m of memberships) {
    if (!orgRoles.has(m.org_id)) orgRoles.set(m.org_id, new Set());
    orgRoles.get(m.org_id)!.add(m.role);
  }
  return { userId: user.id, name: user.name, email: user.email, platformRole: user.platform_role, orgRoles };
}

export type SignInResult = { ok: true; userId: string } | { ok: false; reason: 'bad_credentials' | 'locked'; lockedUntil?: string };

/**
 * Checks an email and password. After MAX_FAILED_SIGN_INS failures in a row the account is locked
 * for LOCKOUT_MINUTES; the answer for an unknown email is the same as for a wrong password, and a
 * hash is still computed so timing does not reveal which emails exist.
 */
export async function checkCredentials(db: Db, email: string, password: string): Promise<SignInResult> {
  const user = await db
    .selectFrom('users')
    .select(['id', 'password_hash', 'failed_sign_ins', 'locked_until'])
    .where('email', '=', email.trim().toLowerCase())
    .executeTakeFirst();
  if (!user) {
    await verifyAgainstDummy(password);
    return { ok: false, reason: 'bad_credentials' };
  }
  if (user.locked_until && user.locked_until > now()) return { ok: false, reason: 'locked', lockedUntil: user.locked_until };
  const good = await verifyPassword(user.password_hash, password);
  if (!good) {
    const failures = user.failed_sign_ins + 1;
    const lock = failures >= MAX_FAILED_SIGN_INS;
    const lockedUntil = lock ? new Date(Date.now() + LOCKOUT_MINUTES * 60_000).toISOString() : null;
    await db
      .updateTable('users')
      .set({ failed_sign_ins: lock ? 0 : failures, locked_until: lockedUntil })
      .where('id', '=', user.id)
      .execute();
    return lock ? { ok: false, reason: 'locked', lockedUntil: lockedUntil! } : { ok: false, reason: 'bad_credentials' };
  }
  await db.updateTable('users').set({ failed_sign_ins: 0, locked_until: null }).where('id', '=', user.id).execute();
  return { ok: true, userId: user.id };
}

/** A fresh session id on every sign-in (no fixation): the old cookie, if any, is destroyed. */
export async function createSession(db: Db, userId: string): Promise<string> {
  const token = randomToken();
  const t = now();
  await db
    .insertInto('sessions')
    .values({
      id: sha256(token),
      user_id: userId,
      created_at: t,
      last_seen_at: t,
      expires_at: new Date(Date.now() + SESSION_DAYS * 86_400_000).toISOString(),
    })
    .execute();
  return token;
}

export async function sessionUser(db: Db, token: string): Promise<string | null> {
  const row = await db.selectFrom('sessions').select(['user_id', 'expires_at']).where('id', '=', sha256(token)).executeTakeFirst();
  if (!row || row.expires_at <= now()) return null;
  return row.user_id;
}

export async function destroySession(db: Db, token: string): Promise<void> {
  await db.deleteFrom('sessions').where('id', '=', sha256(token)).execute();
}

export const API_KEY_PREFIX = 'cvk_';

export async function createApiKey(db: Db, userId: string): Promise<string> {
  const secret = randomToken();
  const key = `${API_KEY_PREFIX}${secret}`;
  await db
    .insertInto('api_keys')
    .values({ id: newId(), user_id: userId, prefix: key.slice(0, 10), key_hash: sha256(key), created_at: now(), last_used_at: null, revoked_at: null })
    .execute();
  return key;
}

export async function apiKeyUser(db: Db, key: string): Promise<string | null> {
  if (!key.startsWith(API_KEY_PREFIX) || key.length > 200) return null;
  const row = await db.selectFrom('api_keys').select(['id', 'user_id', 'revoked_at']).where('key_hash', '=', sha256(key)).executeTakeFirst();
  if (!row || row.revoked_at) return null;
  return row.user_id;
}

export const ROLES = ['admin', 'moderator', 'responder', 'leader'] as const;
export type RoleName = (typeof ROLES)[number];

/**
 * Creates the user if the email is new (a password is then required), and grants the role:
 * `moderator` is platform-wide; `admin` is platform-wide without an organisation and an
 * organisation admin with one; `responder` and `leader` need an organisation.
 */
export async function addUser(
  db: Db,
  o: { email: string; name: string; role: RoleName; orgId?: string | null; password?: string },
): Promise<{ userId: string; created: boolean }> {
  const email = o.email.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) throw new AppError('bad_email', 400, `"${o.email}" is not an email address`);
  if (!o.name.trim()) throw new AppError('bad_name', 400, 'A name is required');
  if ((o.role === 'responder' || o.role === 'leader') && !o.orgId) throw new AppError('org_required', 400, `The ${o.role} role needs --org`);
  if (o.role === 'moderator' && o.orgId) throw new AppError('org_not_allowed', 400, 'Moderators are platform-wide: leave out --org');
  const existing = await db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirst();
  let userId = existing?.id;
  let created = false;
  if (!userId) {
    if (!o.password) throw new AppError('password_required', 400, 'A new user needs a password');
    const problem = passwordProblem(o.password);
    if (problem) throw new AppError('bad_password', 400, problem);
    userId = newId();
    await db
      .insertInto('users')
      .values({ id: userId, email, name: o.name.trim(), password_hash: await hashPassword(o.password), platform_role: null, failed_sign_ins: 0, locked_until: null, created_at: now() })
      .execute();
    created = true;
  }
  if (o.role === 'moderator' || (o.role === 'admin' && !o.orgId)) {
    await db.updateTable('users').set({ platform_role: o.role as PlatformRole }).where('id', '=', userId).execute();
  } else {
    await db
      .insertInto('memberships')
      .values({ user_id: userId, org_id: o.orgId!, role: o.role as OrgRole, created_at: now() })
      .onConflict((oc) => oc.columns(['user_id', 'org_id', 'role']).doNothing())
      .execute();
  }
  return { userId, created };
}
