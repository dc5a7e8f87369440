// Latency from a post arriving at a social network to the live wall: a local Mastodon stand-in
// publishes posts with a ward's hashtag; a `carevoice serve` process follows the hashtag (streaming
// connection, as in production) and a live-wall client reads /api/v1/live. Each post's time from
// `publish` to the wall's `mention.received` is recorded.
//
//   npx tsx bench/mentions.ts [--posts 200]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createParser } from 'eventsource-parser';
import { openDatabase, migrate } from '../src/platform/db/index.ts';
import { importDirectoryCsv } from '../src/directory/import.ts';
import { addUser, createApiKey } from '../src/platform/auth/index.ts';
import { addChannel } from '../src/listening/channels.ts';
import { secretsKey } from '../src/platform/secrets.ts';
import { startFakeMastodon, type FakeMastodon } from '../src/listening/channels/fakes.ts';
import { ROOT } from './lib/paths.ts';
import { spawnService, type Service } from './lib/processes.ts';
import { summarise } from './lib/stats.ts';


export interface MentionLatency {
  'mention.posts': number;
  'mention.received': number;
  'mention.p50_ms': number;
  'mention.p99_ms': number;
  'mention.max_ms': number;
}

export async function runMentionLatency(opts: { posts?: number; log?: (l: string) => void } = {}): Promise<MentionLatency> {
  const posts = opts.posts ?? 200;
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-bench-mentions-'));
  const dbFile = path.join(dir, 'bench.db');
  const controller = new AbortController();
  let mastodon: FakeMastodon | undefined;
  let server: Service | undefined;
  try {
    const handle = openDatabase({ kind: 'sqlite', file: dbFile });
    let key: string;
    try {
      await migrate(handle);
      await importDirectoryCsv(handle, fs.readFileSync(path.join(ROOT, 'src/demo/directory.csv'), 'utf8'));
      const org = await handle.db.selectFrom('organisations').select('id').where('ods_code', '=', 'RR8').executeTakeFirstOrThrow();
      const leader = await addUser(handle.db, { email: 'bench.leader@example.org', name: 'Bench Leader', role: 'leader', orgId: org.id, password: 'bench-password-1234' });
      key = await createApiKey(handle.db, leader.userId);
      mastodon = await startFakeMastodon({ token: 'bench-token-123456', heartbeatMs: 0 });
      // Sealed with the key file in this run's own data directory, which the server is given too.
      await addChannel(handle, secretsKey({ secretsKey: undefined, dataDir: dir }), 'RR8', { kind: 'mastodon', instance: mastodon.url, token: 'bench-token-123456', tags: ['ward7lgi'] }, null);
    } finally {
      await handle.close();
    }
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: `sqlite:${dbFile}`, DATA_DIR: dir, LOG_LEVEL: 'warn', JOBS: 'on', HOST: '127.0.0.1' };
    delete env.SECRETS_KEY;
    server = await spawnService({ name: 'mentions', args: [path.join(ROOT, 'bin/carevoice.js'), 'serve', '--port', '0'], env, ready: /running at http:\/\/localhost:(\d+)/, log });

    const sent = new Map<string, number>();
    const latencies: number[] = [];
    const res = await fetch(`${server.url}/api/v1/live`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`GET /api/v1/live answered ${res.status}`);
    const parser = createParser({
      onEvent(e) {
        if (e.event !== 'mention.received') return;
        const m = /bench post (\d+)/.exec(e.data);
        const t0 = m ? sent.get(m[1]!) : undefined;
        if (t0 !== undefined) latencies.push(performance.now() - t0);
      },
    });
    void (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
      } catch {
        /* aborted at the end */
      }
    })();
    // Wait until the server streams the hashtag (the supervisor starts within a few seconds).
    const ready = Date.now() + 20_000;
    while (mastodon.openStreamCount() === 0) {
      if (Date.now() > ready) throw new Error('the server never opened the Mastodon stream');
      await sleep(100);
    }
    log(`mentions: streaming; publishing ${posts} posts`);
    for (let i = 0; i < posts; i++) {
      sent.set(String(i), performance.now());
      mastodon.publish({ text: `bench post ${i}: the nurses on ward 7 were kind and quick`, tags: ['Ward7LGI'], acct: `bench${i % 17}` });
      await sleep(50);
    }
    const deadline = Date.now() + 10_000;
    while (latencies.length < posts && Date.now() < deadline) await sleep(50);
    const s = summarise(latencies);
    return { 'mention.posts': posts, 'mention.received': s.n, 'mention.p50_ms': s.p50, 'mention.p99_ms': s.p99, 'mention.max_ms': s.max };
  } finally {
    controller.abort();
    await server?.stop();
    await mastodon?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf('--posts');
  const result = await runMentionLatency({ posts: i > 0 ? Number(process.argv[i + 1]) : 200 });
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
