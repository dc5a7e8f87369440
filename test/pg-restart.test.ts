import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_DB } from './helpers.ts';
import { startServer } from './server.ts';
import { waitUntil } from './sse.ts';

// "When PostgreSQL restarts under load, the app answers 503 `unavailable` (never 500, never a crash,
// never a hang) and heals by itself; every story acknowledged with 201 is stored." The machine's
// shared PostgreSQL serves the other tests, so this one restarts a private cluster of its own.

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const WRITERS = 6;
const HEALTH_PROBES = 2;
const BEFORE_MS = 2000; // load on a healthy database first
const OUTAGE_MS = 3000; // PostgreSQL stopped this long
const RECOVERY_DEADLINE_MS = 10_000; // from PostgreSQL accepting connections to a new 201
const AFTER_MS = 2000; // load kept up once recovered, to see it stays recovered
const REQUEST_TIMEOUT_MS = 8000; // a client gives up here: counted as a hang
const MAX_LATENCY_MS = 7000; // the pool's 5 s connection timeout plus slack on 2 busy cores

/** The newest installed PostgreSQL's bin directory (Debian keeps one per major version). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v) && fs.existsSync(path.join(root, v, 'bin', 'pg_ctl'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no PostgreSQL binaries under ${root}/*/bin`);
  return path.join(root, versions[0], 'bin');
}

/** A port nobody listens on right now (the kernel picks it; a tiny race we accept in tests). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A throwaway cluster. initdb and postgres refuse to run as root, so they run as the postgres user. */
class PrivateCluster {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cv-pg-restart-'));
  readonly data = path.join(this.dir, 'data');
  private readonly bin = postgresBin();
  private constructor(readonly port: number) {}

  static async create(): Promise<PrivateCluster> {
    const c = new PrivateCluster(await freePort());
    await run('chown', ['-R', 'postgres:postgres', c.dir]);
    await c.asPostgres('initdb', ['-D', c.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    return c;
  }

  get url() {
    return `postgres://postgres@127.0.0.1:${this.port}/carevoice`;
  }

  private asPostgres(tool: string, args: string[]) {
    return run('runuser', ['-u', 'postgres', '--', path.join(this.bin, tool), ...args], { timeout: 60_000 });
  }

  // -l sends the postmaster's output to a file, so it does not hold our pipe open; the socket
  // goes in the temp dir, not /var/run/postgresql where the shared cluster lives. fsync=off only
  // matters if the machine itself dies: a fast shutdown still writes every commit out first.
  start() {
    return this.asPostgres('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'postgres.log'), '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-w', 'start']);
  }

  /** Fast shutdown: open sessions are terminated (57P01) and transactions in flight roll back. */
  stop() {
    return this.asPostgres('pg_ctl', ['-D', this.data, '-m', 'fast', '-w', 'stop']);
  }

  async destroy() {
    await this.stop().catch(() => undefined); // may already be stopped
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

type Server = Awaited<ReturnType<typeof startServer>>;

/** What a dead server printed about its death: from the uncaught error on, without the empty fields of a pg error. */
function lastWords(output: string): string {
  const lines = output.split('\n').filter((l) => l.trim() && !l.startsWith('{') && !/^\s+\w+: undefined,$/.test(l));
  const from = lines.findIndex((l) => /Unhandled|uncaught|^\s*throw /i.test(l));
  return lines.slice(from >= 0 ? from : -25, (from >= 0 ? from : lines.length) + 30).join('\n');
}

interface Outcome {
  what: 'post' | 'health';
  reqId: string;
  sentAt: number;
  doneAt: number;
  /** HTTP status, or 0 when the request failed without an answer (reset, refused, timed out). */
  status: number;
  code?: string;
  failure?: string;
  storyId?: string;
}

let cluster: PrivateCluster | undefined;
let server: Server | undefined;

describe.runIf(TEST_DB === 'postgres')('a PostgreSQL restart under load', () => {
  beforeAll(async () => {
    cluster = await PrivateCluster.create();
    await cluster.start();
    const admin = new pg.Client({ connectionString: cluster.url.replace(/\/carevoice$/, '/postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE carevoice');
    await admin.end();
  });

  afterAll(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
    await cluster?.destroy();
  });

  it('answers 503 unavailable while it is down, recovers by itself and loses no acknowledged story', async () => {
    const db = cluster!;
    // LOG_LEVEL=error: every 5xx is logged with its error and request id, so a 500 can be traced
    // to the exact driver error that escaped the 503 mapping.
    const s = await startServer({ DATABASE_URL: db.url, STORY_RATE_LIMIT: '0', JOBS: 'on', LOG_LEVEL: 'error' }, ['--demo']);
    server = s;
    const t0 = performance.now();
    const clock = () => performance.now() - t0;

    const outcomes: Outcome[] = [];
    let stopping = false;
    let n = 0;

    async function request(what: Outcome['what'], init: RequestInit & { url: string }): Promise<Outcome> {
      const reqId = `pgr-${what}-${n++}`;
      const sentAt = clock();
      try {
        const res = await fetch(init.url, { ...init, headers: { ...(init.headers as Record<string, string>), 'x-request-id': reqId }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await res.text();
        const o: Outcome = { what, reqId, sentAt, doneAt: clock(), status: res.status };
        try {
          const body = JSON.parse(text) as { id?: string; error?: { code?: string } };
          o.code = body.error?.code;
          if (res.status === 201) o.storyId = body.id;
        } catch {
          o.code = `non-JSON body: ${text.slice(0, 80)}`;
        }
        return o;
      } catch (err) {
        return { what, reqId, sentAt, doneAt: clock(), status: 0, failure: String((err as Error).cause ?? err) };
      }
    }

    const writer = async (w: number) => {
      for (let i = 0; !stopping; i++) {
        const o = await request('post', {
          url: `${s.url}/api/v1/stories`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            title: `Night ${i} on Ward 7, writer ${w}`,
            body: `The nurses on the ward were kind and the food was fine. Writer ${w}, story ${i}.`,
            services: ['RR813-W07'],
            authorRole: 'patient',
          }),
        });
        outcomes.push(o);
        // A real client backs off a little after a failure instead of spinning on fast 503s.
        if (o.status !== 201) await sleep(50);
      }
    };
    const prober = async () => {
      while (!stopping) {
        outcomes.push(await request('health', { url: `${s.url}/healthz` }));
        await sleep(100);
      }
    };

    const load = Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), ...Array.from({ length: HEALTH_PROBES }, prober)]);

    await sleep(BEFORE_MS);
    const stopBegan = clock();
    await db.stop();
    const stopped = clock();
    await sleep(OUTAGE_MS);
    const startBegan = clock();
    await db.start();
    const started = clock();

    // Recovered once a story sent after PostgreSQL came back is acknowledged.
    const firstAfter = (what: Outcome['what'], status: number) => outcomes.find((o) => o.what === what && o.sentAt >= started && o.status === status);
    while (!firstAfter('post', 201) && clock() - started < RECOVERY_DEADLINE_MS) await sleep(50);
    const recovered = firstAfter('post', 201);
    const recoveredAt = recovered ? recovered.doneAt : clock();
    await sleep(AFTER_MS);
    stopping = true;
    await load;
    const ended = clock();

    // Which phase each request belongs to: wholly before the stop, wholly inside the outage, or sent
    // once the database was back; requests straddling a transition may go either way.
    const before = outcomes.filter((o) => o.doneAt <= stopBegan);
    const outage = outcomes.filter((o) => o.sentAt >= stopped && o.doneAt <= startBegan);
    const afterRecovery = outcomes.filter((o) => o.sentAt >= recoveredAt);
    const count = (list: Outcome[], f: (o: Outcome) => boolean) => list.filter(f).length;
    const isUnavailable = (o: Outcome) => o.status === 503 && (o.what === 'health' || o.code === 'unavailable');

    // Any answer other than 201/200/503-unavailable, traced to the server's log line for its request.
    const logged = new Map<string, string>();
    for (const line of s.output().split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { reqId?: string; err?: { type?: string; code?: string; message?: string } };
        if (entry.reqId && entry.err) logged.set(entry.reqId, `${entry.err.type ?? 'Error'} code=${entry.err.code ?? '-'} message=${entry.err.message ?? '-'}`);
      } catch {
        // a log line cut by the buffer: ignore
      }
    }
    const unexpected = outcomes
      .filter((o) => !(o.status === 201 && o.what === 'post') && !(o.status === 200 && o.what === 'health') && !isUnavailable(o))
      .map((o) => `${o.what} ${o.reqId} at ${Math.round(o.sentAt)} ms: ${o.status || o.failure} ${o.code ?? ''} ${logged.get(o.reqId) ?? ''}`.trim());
    const slowest = Math.max(...outcomes.map((o) => o.doneAt - o.sentAt));
    const acked = outcomes.filter((o) => o.status === 201).map((o) => o.storyId!);

    console.log(
      `[pg-restart] ${outcomes.length} requests in ${(ended / 1000).toFixed(1)} s: ${count(outcomes, (o) => o.what === 'post')} POSTs (${acked.length} 201, ` +
        `${count(outcomes, (o) => o.what === 'post' && o.status === 503)} 503), ${count(outcomes, (o) => o.what === 'health')} /healthz; ` +
        `stop took ${Math.round(stopped - stopBegan)} ms, start ${Math.round(started - startBegan)} ms; during the outage ${count(outage, (o) => o.what === 'post')} POSTs ` +
        `(${count(outage, (o) => o.what === 'post' && isUnavailable(o))} 503 unavailable) and ${count(outage, (o) => o.what === 'health')} /healthz ` +
        `(${count(outage, (o) => o.what === 'health' && o.status === 503)} 503); first 201 ${recovered ? `${Math.round(recoveredAt - started)} ms` : 'never'} after PostgreSQL was back; ` +
        `slowest answer ${Math.round(slowest)} ms; unexpected ${unexpected.length}`,
    );

    // Still alive, first: if it died, say how (the crash's own last words, not 2000 refused requests).
    const death = s.child.exitCode !== null || s.child.signalCode !== null ? `exit ${s.child.exitCode ?? s.child.signalCode}: ${lastWords(s.output())}` : undefined;
    expect(death).toBeUndefined();

    // Never a 500, a dropped connection or a hang: only 201, 200 and 503 `unavailable`.
    expect(unexpected.slice(0, 20)).toEqual([]);
    expect(slowest).toBeLessThan(MAX_LATENCY_MS);

    // Healthy before.
    expect(count(before, (o) => o.what === 'post' && o.status === 201)).toBeGreaterThan(0);
    expect(before.every((o) => o.status === 201 || o.status === 200)).toBe(true);

    // Down: stories are refused with 503 `unavailable` and /healthz says so too.
    expect(count(outage, (o) => o.what === 'post' && isUnavailable(o))).toBeGreaterThan(0);
    expect(outage.filter((o) => o.what === 'post').every(isUnavailable)).toBe(true);
    expect(count(outage, (o) => o.what === 'health')).toBeGreaterThan(0);
    expect(outage.filter((o) => o.what === 'health').every((o) => o.status === 503)).toBe(true);

    // Back by itself, without restarting the app, and staying back.
    expect(recovered, `no 201 within ${RECOVERY_DEADLINE_MS} ms of PostgreSQL accepting connections`).toBeDefined();
    expect(firstAfter('health', 200)).toBeDefined();
    expect(afterRecovery.filter((o) => o.status !== 201 && o.status !== 200).map((o) => `${o.what} ${o.status} ${o.code ?? ''}`)).toEqual([]);

    // Every acknowledged story is in the database (stored, or in the intake), and the server's job
    // loop stores those in the intake by itself.
    const check = new pg.Client({ connectionString: db.url });
    await check.connect();
    try {
      const found = await check.query<{ id: string }>('SELECT id FROM stories WHERE id = ANY($1::text[]) UNION ALL SELECT story_id FROM story_intake WHERE story_id = ANY($1::text[])', [acked]);
      const present = new Set(found.rows.map((r) => r.id));
      expect(acked.filter((id) => !present.has(id))).toEqual([]);
      await waitUntil(async () => Number((await check.query<{ n: string }>('SELECT count(*) AS n FROM story_intake')).rows[0]!.n) === 0, 30_000);
      const { rows } = await check.query<{ id: string }>('SELECT id FROM stories WHERE id = ANY($1::text[])', [acked]);
      const stored = new Set(rows.map((r) => r.id));
      expect(acked.filter((id) => !stored.has(id))).toEqual([]);
      console.log(`[pg-restart] ${stored.size}/${acked.length} acknowledged stories found in the stories table`);
    } finally {
      await check.end();
    }

    // And it still stops cleanly, its pool healed.
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  });
});
