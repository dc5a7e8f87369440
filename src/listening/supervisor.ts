import os from 'node:os';
import type { Logger } from 'pino';
import type { DbHandle } from '../platform/db/index.ts';
import type { ChannelTable } from '../platform/db/schema.ts';
import { openSecret } from './channels.ts';
import { ingestMention, removeMention } from './mentions.ts';
import { createMastodonConnector } from './channels/mastodon.ts';
import { createBlueskyConnector } from './channels/bluesky.ts';
import { createXConnector } from './channels/x.ts';
import type { Connector, ConnectorSink } from './channels/types.ts';

/**
 * Runs the connectors of every streaming channel (Mastodon, Bluesky, X). It reads the channels table
 * every few seconds, so a channel added from the command line or the admin page starts within
 * seconds in a running server, and one removed stops. Each channel is leased to one app server at a
 * time (renewed while it runs, taken over when it lapses), so several servers do not all stream the
 * same hashtags; deliveries are idempotent anyway.
 */
const LEASE_MS = 20_000;

interface Running {
  connector: Connector;
  updatedAt: string;
  status: string;
}

export class ChannelSupervisor {
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly holder = `${os.hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;

  constructor(
    private readonly handle: DbHandle,
    private readonly key: Buffer,
    private readonly log: Logger,
    private readonly opts: { pollMs?: number; fetch?: typeof fetch; minBackoffMs?: number; maxBackoffMs?: number } = {},
  ) {}

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.ticking = this.tick().catch((err: Error) => this.log.warn({ err: err.message }, 'channels: supervisor tick failed'));
    };
    tick();
    this.timer = setInterval(tick, this.opts.pollMs ?? 3000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    const ids = [...this.running.keys()];
    await Promise.all(ids.map((id) => this.halt(id)));
    if (ids.length) await this.handle.db.updateTable('channels').set({ lease_holder: null, lease_until: null }).where('id', 'in', ids).where('lease_holder', '=', this.holder).execute();
  }

  /** Connected connectors, for tests and the admin page. */
  isConnected(channelId: string): boolean {
    return this.running.get(channelId)?.connector.connected ?? false;
  }

  private async tick(): Promise<void> {
    const db = this.handle.db;
    const rows = await db.selectFrom('channels').selectAll().where('kind', 'in', ['mastodon', 'bluesky', 'x']).where('enabled', '=', 1).execute();
    const wanted = new Set(rows.map((r) => r.id));
    for (const id of [...this.running.keys()]) if (!wanted.has(id)) await this.halt(id);
    for (const row of rows) {
      const held = await this.lease(row.id);
      const run = this.running.get(row.id);
      if (!held) {
        if (run) await this.halt(row.id);
        continue;
      }
      if (run && run.updatedAt !== row.updated_at) await this.halt(row.id);
      if (!this.running.has(row.id)) this.launch(row);
      const r = this.running.get(row.id);
      if (r) {
        const status = r.connector.connected ? 'connected' : 'connecting';
        if (status !== r.status) {
          r.status = status;
          await db.updateTable('channels').set({ status, last_error: status === 'connected' ? null : row.last_error }).where('id', '=', row.id).execute();
        }
      }
    }
  }

  private async lease(id: string): Promise<boolean> {
    const t = new Date();
    const res = await this.handle.db
      .updateTable('channels')
      .set({ lease_holder: this.holder, lease_until: new Date(t.getTime() + LEASE_MS).toISOString() })
      .where('id', '=', id)
      .where((eb) => eb.or([eb('lease_holder', 'is', null), eb('lease_holder', '=', this.holder), eb('lease_until', '<', t.toISOString())]))
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  private launch(row: ChannelTable): void {
    const log = this.log.child({ channel: row.id, kind: row.kind });
    let secret: string;
    try {
      secret = openSecret(this.key, row);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'channels: cannot open the secret');
      this.handle.db.updateTable('channels').set({ status: 'failed', last_error: (err as Error).message }).where('id', '=', row.id).execute().catch(() => {});
      return;
    }
    const sink = this.sink(row);
    const config = JSON.parse(row.config) as { instance?: string; endpoint?: string; apiBase?: string; tags: string[] };
    const common = { cursor: row.cursor, sink, log, fetch: this.opts.fetch, minBackoffMs: this.opts.minBackoffMs, maxBackoffMs: this.opts.maxBackoffMs };
    let connector: Connector;
    if (row.kind === 'mastodon') connector = createMastodonConnector({ ...common, config: { instance: config.instance!, token: secret, tags: config.tags } });
    else if (row.kind === 'bluesky') connector = createBlueskyConnector({ ...common, config: { endpoint: config.endpoint!, tags: config.tags } });
    else connector = createXConnector({ ...common, config: { apiBase: config.apiBase!, bearerToken: secret, tags: config.tags } });
    this.running.set(row.id, { connector, updatedAt: row.updated_at, status: 'starting' });
    connector.start();
    log.info({ name: row.name }, 'channels: connector started');
  }

  private async halt(id: string): Promise<void> {
    const run = this.running.get(id);
    this.running.delete(id);
    await run?.connector.stop();
  }

  private sink(row: ChannelTable): ConnectorSink {
    const target = { orgId: row.org_id, channelId: row.id };
    return {
      upsert: async (post) => {
        await ingestMention(this.handle, post, target);
      },
      remove: async (source, externalId) => {
        await removeMention(this.handle, source, externalId, row.org_id);
      },
      saveCursor: async (cursor) => {
        await this.handle.db.updateTable('channels').set({ cursor }).where('id', '=', row.id).execute();
      },
    };
  }
}

