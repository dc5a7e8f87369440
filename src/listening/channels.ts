import { z } from 'zod';
import type { DbHandle } from '../platform/db/index.ts';
import { newId, now } from '../platform/db/index.ts';
import { appendEvent } from '../platform/events.ts';
import { AppError } from '../platform/errors.ts';
import { parseInput } from '../platform/http.ts';
import { randomToken } from '../platform/auth/tokens.ts';
import { seal, unseal } from '../platform/secrets.ts';
import type { ChannelTable } from '../platform/db/schema.ts';

/**
 * Channels: an organisation's connections to social networks. What is secret (an access token, a
 * webhook's signing key) is sealed with the secrets key before it is stored and opened only by the
 * process that connects; lists and pages never show it.
 */
export const CHANNEL_KINDS = ['mastodon', 'bluesky', 'x', 'webhook'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];

const tagList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(/[\s,]+/)).map((t) => t.trim().replace(/^#/, '').toLowerCase()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[\p{L}\p{N}_]{1,100}$/u, 'A hashtag is letters, digits and _ only')).min(1, 'Name at least one hashtag').max(20, 'Follow at most 20 hashtags'));

const httpUrl = (what: string, schemes = ['https:', 'http:']) =>
  z
    .string()
    .trim()
    .max(300)
    .refine((v) => {
      try {
        return schemes.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `${what} must be a full address starting with ${schemes.map((s) => `${s}//`).join(' or ')}`)
    .transform((v) => v.replace(/\/+$/, ''));

export const ChannelInput = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('mastodon'), name: z.string().trim().max(80).optional(), instance: httpUrl('The instance'), token: z.string().trim().min(8, 'Give the access token').max(500), tags: tagList }).strict(),
  z.object({ kind: z.literal('bluesky'), name: z.string().trim().max(80).optional(), endpoint: httpUrl('The Jetstream address', ['wss:', 'ws:']).default('wss://jetstream2.us-east.bsky.network/subscribe'), tags: tagList }).strict(),
  z.object({ kind: z.literal('x'), name: z.string().trim().max(80).optional(), apiBase: httpUrl('The API address').default('https://api.x.com'), token: z.string().trim().min(8, 'Give the bearer token').max(500), tags: tagList }).strict(),
  z.object({ kind: z.literal('webhook'), name: z.string().trim().max(80).optional() }).strict(),
]);
export type ChannelInputType = z.input<typeof ChannelInput>;

export interface ChannelSummary {
  id: string;
  kind: ChannelKind;
  name: string;
  tags: string[];
  target: string | null;
  enabled: boolean;
  status: string;
  lastError: string | null;
  createdAt: string;
}

export async function addChannel(
  handle: DbHandle,
  key: Buffer,
  orgCode: string,
  raw: unknown,
  actorId: string | null,
): Promise<{ id: string; webhookSecret?: string }> {
  const input = parseInput(ChannelInput, raw, 'invalid_channel');
  const org = await handle.db.selectFrom('organisations').select(['id']).where('ods_code', '=', orgCode.toUpperCase()).executeTakeFirst();
  if (!org) throw new AppError('unknown_organisation', 400, `No organisation has the code ${orgCode}`);
  let config: Record<string, unknown>;
  let secret: string;
  let webhookSecret: string | undefined;
  switch (input.kind) {
    case 'mastodon':
      config = { instance: input.instance, tags: input.tags };
      secret = input.token;
      break;
    case 'bluesky':
      config = { endpoint: input.endpoint, tags: input.tags };
      secret = '';
      break;
    case 'x':
      config = { apiBase: input.apiBase, tags: input.tags };
      secret = input.token;
      break;
    case 'webhook':
      config = {};
      webhookSecret = randomToken(32);
      secret = webhookSecret;
      break;
  }
  const id = newId();
  const t = now();
  const name = input.name || defaultName(input.kind, config);
  await handle.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('channels')
      .values({ id, org_id: org.id, kind: input.kind, name, config: JSON.stringify(config), secret_enc: seal(key, secret), cursor: null, enabled: 1, status: 'starting', last_error: null, lease_holder: null, lease_until: null, created_at: t, updated_at: t })
      .execute();
    // The audit trail records that a channel was added, never its secret.
    await appendEvent(trx, handle.dialect, { type: 'channel.added', orgId: org.id, subject: id, actorId, data: { kind: input.kind, name, ...config } });
  });
  return { id, webhookSecret };
}

function defaultName(kind: ChannelKind, config: Record<string, unknown>): string {
  const tags = ((config.tags as string[] | undefined) ?? []).map((t) => `#${t}`).join(' ');
  if (kind === 'mastodon') return `Mastodon ${new URL(config.instance as string).host} ${tags}`;
  if (kind === 'bluesky') return `Bluesky ${tags}`;
  if (kind === 'x') return `X ${tags}`;
  return 'Webhook';
}

export async function removeChannel(handle: DbHandle, orgId: string, id: string, actorId: string | null): Promise<void> {
  const row = await handle.db.selectFrom('channels').select(['id', 'kind', 'name']).where('id', '=', id).where('org_id', '=', orgId).executeTakeFirst();
  if (!row) throw new AppError('channel_not_found', 404, 'No such channel in this organisation');
  await handle.db.transaction().execute(async (trx) => {
    await trx.updateTable('mentions').set({ channel_id: null }).where('channel_id', '=', id).execute();
    await trx.deleteFrom('channels').where('id', '=', id).execute();
    await appendEvent(trx, handle.dialect, { type: 'channel.removed', orgId, subject: id, actorId, data: { kind: row.kind, name: row.name } });
  });
}

export function summarise(row: ChannelTable): ChannelSummary {
  const config = JSON.parse(row.config) as { tags?: string[]; instance?: string; endpoint?: string; apiBase?: string };
  return {
    id: row.id,
    kind: row.kind,
    name: row.name,
    tags: config.tags ?? [],
    target: config.instance ?? config.endpoint ?? config.apiBase ?? null,
    enabled: row.enabled === 1,
    status: row.status,
    lastError: row.last_error,
    createdAt: row.created_at,
  };
}

export async function listChannels(handle: DbHandle, orgId: string): Promise<ChannelSummary[]> {
  const rows = await handle.db.selectFrom('channels').selectAll().where('org_id', '=', orgId).orderBy('created_at').execute();
  return rows.map(summarise);
}

/** Opens a channel's secret; a key that does not match (SECRETS_KEY changed) is a clear error. */
export function openSecret(key: Buffer, row: Pick<ChannelTable, 'secret_enc' | 'name'>): string {
  try {
    return unseal(key, row.secret_enc);
  } catch {
    throw new AppError('secret_unreadable', 500, `The secret of channel "${row.name}" cannot be opened with this server's secrets key (was SECRETS_KEY changed?)`);
  }
}
