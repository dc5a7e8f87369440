import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createBlueskyConnector } from './bluesky.ts';
import {
  createRecordingSink,
  startFakeJetstream,
  startFakeMastodon,
  startFakeX,
  type FakeJetstream,
  type FakeMastodon,
  type FakeX,
  type RecordingSink,
} from './fakes.ts';
import { createMastodonConnector } from './mastodon.ts';
import { Backoff, compareSnowflakes, htmlToText, normaliseTag, rateLimitWaitMs } from './text.ts';
import type { Connector } from './types.ts';
import { createXConnector, planRuleChanges } from './x.ts';

const silent = pino({ level: 'silent' });
const quickRetries = { minBackoffMs: 20, maxBackoffMs: 200 };

/** Polls until `condition` holds, so tests wait only as long as the connectors need. */
async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** For "nothing more happens" checks, which cannot poll for an event: longer than any back-off here. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));

/** A logger that keeps its lines, to check what an operator would read. */
function capturingLogger(): { log: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: pino({ level: 'warn' }, destination), lines };
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Connectors first, so none is left retrying against a closed fake.
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function track<T extends { close(): Promise<void> }>(fake: T): T {
  cleanups.push(() => fake.close());
  return fake;
}

function running(connector: Connector): Connector {
  connector.start();
  cleanups.push(() => connector.stop());
  return connector;
}

describe('shared text helpers', () => {
  it('turns Mastodon HTML into plain text', () => {
    const html =
      '<p>Line one<br />line two &amp; &lt;b&gt; &#39;quoted&#39; &#x1F44D;</p><p>Second <a href="https://x.example/long"><span class="invisible">https://</span><span class="ellipsis">x.example/lo</span><span class="invisible">ng</span></a></p>';
    expect(htmlToText(html)).toBe("Line one\nline two & <b> 'quoted' 👍\n\nSecond https://x.example/long");
  });
  it('normalises tags and compares snowflakes numerically', () => {
    expect(normaliseTag('#Ward7LGI')).toBe('ward7lgi');
    expect(compareSnowflakes('99', '100')).toBe(-1);
    expect(compareSnowflakes('109876543210987654321', '109876543210987654320')).toBe(1);
  });
  it('backs off exponentially with jitter, within bounds, and resets', () => {
    const lowest = new Backoff(100, 1_000, () => 0);
    expect([lowest.next(), lowest.next(), lowest.next(), lowest.next(), lowest.next()]).toEqual([50, 100, 200, 400, 500]);
    lowest.reset();
    expect(lowest.next()).toBe(50);
    const highest = new Backoff(100, 1_000, () => 1);
    expect([highest.next(), highest.next(), highest.next(), highest.next(), highest.next()]).toEqual([100, 200, 400, 800, 1_000]);
  });
  it("reads X's rate-limit reset header", () => {
    expect(rateLimitWaitMs('1700000010', 1_700_000_000_000)).toBe(10_000);
    expect(rateLimitWaitMs('1600000000', 1_700_000_000_000)).toBe(0);
    expect(rateLimitWaitMs(null)).toBeNull();
  });
});

describe('Mastodon connector', () => {
  function connect(fake: FakeMastodon, sink: RecordingSink, cursor: string | null = null, token = fake.token): Connector {
    return running(
      createMastodonConnector({
        config: { instance: fake.url, token, tags: ['Ward7LGI'] },
        cursor,
        sink,
        log: silent,
        ...quickRetries,
      }),
    );
  }

  it('backfills the latest page on first start, oldest first, as plain text', async () => {
    // Ids cross from 17 to 18 digits, where comparing them as strings would misorder them.
    const fake = track(await startFakeMastodon({ firstId: 99_999_999_999_999_990n }));
    const statuses = Array.from({ length: 42 }, (_, index) =>
      fake.addStatus({ text: `Post ${index}\nsecond line & more`, tags: ['Ward7LGI'], acct: index === 41 ? 'bob@other.example' : 'alice' }),
    );
    const sink = createRecordingSink();
    const connector = connect(fake, sink);

    await waitFor(() => connector.connected, 'the stream to open');
    expect(fake.seen.backfillQueries).toEqual(['limit=40']);
    expect(sink.upserts.map((post) => post.externalId)).toEqual(statuses.slice(2).map((status) => status.id));
    const last = statuses[41];
    expect(sink.cursors.at(-1)).toBe(last?.id);
    expect(sink.upserts.at(-1)).toEqual({
      source: 'mastodon',
      externalId: last?.id,
      url: last?.url,
      author: '@bob@other.example',
      text: 'Post 41\nsecond line & more #Ward7LGI',
      tags: ['ward7lgi'],
      postedAt: last?.created_at,
      editedAt: null,
    });
    // A local account's handle gets the instance's domain.
    expect(sink.upserts[0]?.author).toBe(`@alice@${new URL(fake.url).host}`);
    expect(fake.seen.authorizations.every((header) => header === `Bearer ${fake.token}`)).toBe(true);
  });

  it('delivers live updates, edits and deletes, and ignores heartbeats', async () => {
    const fake = track(await startFakeMastodon());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream to open');

    fake.heartbeat();
    const status = fake.publish({ text: 'The toilets on ward 7 are filthy', tags: ['Ward7LGI'] });
    fake.publish({ text: 'Not ours', tags: ['SomethingElse'] });
    await waitFor(() => sink.upserts.length === 1, 'the update');
    expect(sink.upserts[0]?.text).toBe('The toilets on ward 7 are filthy #Ward7LGI');

    fake.heartbeat();
    const edited = fake.edit(status.id, 'The toilets on ward 7 were cleaned');
    await waitFor(() => sink.upserts.length === 2, 'the edit');
    expect(sink.upserts[1]).toMatchObject({ externalId: status.id, editedAt: edited.edited_at, text: 'The toilets on ward 7 were cleaned #Ward7LGI' });

    fake.remove(status.id);
    await waitFor(() => sink.removes.length === 1, 'the delete');
    expect(sink.removes[0]).toEqual({ source: 'mastodon', externalId: status.id });
    expect(fake.seen.streamTags).toEqual(['ward7lgi']);
  });

  it('reconnects after a drop and backfills exactly the missed posts from min_id = the last id seen', async () => {
    const fake = track(await startFakeMastodon());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream to open');
    const seenLive = fake.publish({ text: 'Before the drop', tags: ['ward7lgi'] });
    await waitFor(() => sink.upserts.length === 1, 'the live post');

    fake.dropStreams();
    // Added in the same tick as the drop, so the connector cannot be back yet: only a backfill finds them.
    const missed = Array.from({ length: 45 }, (_, index) => fake.addStatus({ text: `Missed ${index}`, tags: ['Ward7LGI'] }));

    await waitFor(() => sink.upserts.length === 46 && connector.connected, 'the backfill');
    expect(sink.upserts.slice(1).map((post) => post.externalId)).toEqual(missed.map((status) => status.id));
    expect(fake.seen.backfillQueries).toEqual([
      'limit=40',
      `min_id=${seenLive.id}&limit=40`,
      `min_id=${missed[39]?.id}&limit=40`,
      `min_id=${missed[44]?.id}&limit=40`,
    ]);
    expect(sink.cursors.at(-1)).toBe(missed[44]?.id);
    expect(fake.seen.streamTags).toHaveLength(2);
  });

  it('resumes from a saved cursor on start', async () => {
    const fake = track(await startFakeMastodon());
    const old = fake.addStatus({ text: 'Already delivered', tags: ['Ward7LGI'] });
    const fresh = fake.addStatus({ text: 'New since', tags: ['Ward7LGI'] });
    const sink = createRecordingSink();
    const connector = connect(fake, sink, old.id);
    await waitFor(() => connector.connected, 'the stream to open');
    expect(sink.upserts.map((post) => post.externalId)).toEqual([fresh.id]);
    expect(fake.seen.backfillQueries[0]).toBe(`min_id=${old.id}&limit=40`);
  });

  it('keeps the token when the instance redirects to a separate streaming host', async () => {
    const fake = track(await startFakeMastodon({ separateStreamingHost: true }));
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream to open');
    fake.publish({ text: 'Via the streaming host', tags: ['Ward7LGI'] });
    await waitFor(() => sink.upserts.length === 1, 'the update');
    expect(fake.seen.redirects).toBe(1);
    expect(fake.seen.unauthorized).toBe(0);
  });

  it('refuses nothing silently: a wrong token delivers nothing, is logged, and is retried', async () => {
    const fake = track(await startFakeMastodon());
    fake.addStatus({ text: 'Waiting', tags: ['Ward7LGI'] });
    const sink = createRecordingSink();
    const { log, lines } = capturingLogger();
    const connector = running(
      createMastodonConnector({
        config: { instance: fake.url, token: 'wrong', tags: ['Ward7LGI'] },
        cursor: null,
        sink,
        log,
        ...quickRetries,
      }),
    );
    await waitFor(() => fake.seen.unauthorized >= 2, 'a retry after the 401');
    expect(sink.calls).toBe(0);
    expect(connector.connected).toBe(false);
    expect(lines.some((line) => line.includes('"level":50') && line.includes('HTTP 401') && line.includes('access token'))).toBe(true);
  });

  it('reconnects when the stream goes silent for longer than the idle timeout', async () => {
    // This fake sends no heartbeats unless told to, so the stream is silent.
    const fake = track(await startFakeMastodon());
    const sink = createRecordingSink();
    running(
      createMastodonConnector({
        config: { instance: fake.url, token: fake.token, tags: ['Ward7LGI'] },
        cursor: null,
        sink,
        log: silent,
        idleTimeoutMs: 100,
        ...quickRetries,
      }),
    );
    await waitFor(() => fake.seen.streamTags.length >= 2, 'a reconnect after silence');
  });

  it('redelivers after the sink fails, because the cursor did not move', async () => {
    const fake = track(await startFakeMastodon());
    const first = fake.addStatus({ text: 'One', tags: ['Ward7LGI'] });
    const sink = createRecordingSink();
    sink.failNextUpserts(1);
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected && sink.upserts.length === 1, 'the retried delivery');
    expect(sink.upserts[0]?.externalId).toBe(first.id);
  });

  it('stops delivering once stop() resolves', async () => {
    const fake = track(await startFakeMastodon());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream to open');
    fake.publish({ text: 'Before stop', tags: ['Ward7LGI'] });
    await waitFor(() => sink.upserts.length === 1, 'the update');

    await connector.stop();
    const callsAtStop = sink.calls;
    await waitFor(() => fake.openStreamCount() === 0, 'the stream to close');
    fake.publish({ text: 'After stop', tags: ['Ward7LGI'] });
    await settle();
    expect(sink.calls).toBe(callsAtStop);
    expect(fake.seen.streamTags).toHaveLength(1);
    expect(connector.connected).toBe(false);
  });
});

describe('Bluesky connector', () => {
  function connect(fake: FakeJetstream, sink: RecordingSink, cursor: string | null = null): Connector {
    return running(
      createBlueskyConnector({ config: { endpoint: fake.url, tags: ['Ward7LGI'] }, cursor, sink, log: silent, ...quickRetries }),
    );
  }

  it('delivers only posts whose tag facets match, case-insensitively', async () => {
    const fake = track(await startFakeJetstream());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected && fake.clientCount() === 1, 'the websocket');

    const did = 'did:plc:eygmaihciaxprqvxpfvl6flk';
    const matching = fake.post({ did, text: 'The toilets on ward 7 are filthy', tags: ['WARD7lgi'] });
    fake.post({ text: 'Only in the text #ward7lgi', tags: [] });
    fake.post({ text: 'Another ward', tags: ['ward8'] });
    fake.identity(did, 'patient.bsky.social');
    fake.account(did, true);
    const marker = fake.post({ text: 'Marker', tags: ['ward7lgi', 'Ward8'] });

    await waitFor(() => sink.upserts.length >= 2, 'the matching posts');
    await waitFor(() => sink.cursors.length > 0, 'a saved cursor');
    expect(sink.upserts.map((post) => post.externalId)).toEqual([
      `at://${did}/app.bsky.feed.post/${matching.commit.rkey}`,
      `at://${marker.did}/app.bsky.feed.post/${marker.commit.rkey}`,
    ]);
    expect(sink.upserts[0]).toEqual({
      source: 'bluesky',
      externalId: `at://${did}/app.bsky.feed.post/${matching.commit.rkey}`,
      url: `https://bsky.app/profile/${did}/post/${matching.commit.rkey}`,
      author: did,
      text: 'The toilets on ward 7 are filthy #WARD7lgi',
      tags: ['ward7lgi'],
      postedAt: 'record' in matching.commit ? matching.commit.record.createdAt : '',
      editedAt: null,
    });
    expect(sink.upserts[1]?.tags).toEqual(['ward7lgi', 'ward8']);
    expect(fake.seen.connectionQueries).toEqual(['wantedCollections=app.bsky.feed.post']);
  });

  it('delivers edits, and passes every post delete on', async () => {
    const fake = track(await startFakeJetstream());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected && fake.clientCount() === 1, 'the websocket');

    const post = fake.post({ text: 'Long wait in A&E', tags: ['ward7lgi'] });
    const update = fake.update(post.did, post.commit.rkey, { text: 'Long wait in A&E, now seen', tags: ['ward7lgi'] });
    fake.deletePost(post.did, post.commit.rkey);
    fake.deletePost('did:plc:someoneelse', '3l3qo2vuowo2b');

    await waitFor(() => sink.removes.length === 2, 'the deletes');
    expect(sink.upserts).toHaveLength(2);
    expect(sink.upserts[1]).toMatchObject({
      externalId: `at://${post.did}/app.bsky.feed.post/${post.commit.rkey}`,
      text: 'Long wait in A&E, now seen #ward7lgi',
      editedAt: new Date(Math.floor(update.time_us / 1000)).toISOString(),
    });
    expect(sink.removes).toEqual([
      { source: 'bluesky', externalId: `at://${post.did}/app.bsky.feed.post/${post.commit.rkey}` },
      { source: 'bluesky', externalId: 'at://did:plc:someoneelse/app.bsky.feed.post/3l3qo2vuowo2b' },
    ]);
  });

  it('reconnects from the last event seen minus five seconds, and saves the cursor at most once a second', async () => {
    const fake = track(await startFakeJetstream());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected && fake.clientCount() === 1, 'the websocket');

    for (let index = 0; index < 20; index += 1) fake.post({ text: `Burst ${index}`, tags: ['ward7lgi'] });
    const last = fake.post({ text: 'Last before the drop', tags: ['other'] });
    await waitFor(() => sink.upserts.length === 20, 'the burst');
    // The first event is saved at once; the rest of the burst falls within the same second (or two).
    expect(sink.cursors.length).toBeLessThanOrEqual(2);

    fake.dropConnections();
    const missed = fake.post({ text: 'Posted while down', tags: ['Ward7LGI'] });
    await waitFor(() => sink.upserts.some((post) => post.externalId.endsWith(missed.commit.rkey)), 'the replayed post');
    expect(fake.seen.connectionQueries[1]).toBe(`wantedCollections=app.bsky.feed.post&cursor=${last.time_us - 5_000_000}`);

    await connector.stop();
    expect(sink.cursors.at(-1)).toBe(String(missed.time_us));
  });

  it('starts from a saved cursor', async () => {
    const fake = track(await startFakeJetstream());
    const earlier = fake.post({ text: 'Posted while Carevoice was off', tags: ['ward7lgi'] });
    const sink = createRecordingSink();
    const connector = connect(fake, sink, String(earlier.time_us - 1));
    await waitFor(() => connector.connected && sink.upserts.length === 1, 'the replay');
    expect(fake.seen.connectionQueries[0]).toBe(`wantedCollections=app.bsky.feed.post&cursor=${earlier.time_us - 1 - 5_000_000}`);
  });
});

describe('X connector', () => {
  function connect(fake: FakeX, sink: RecordingSink, tags: string[] = ['Ward7LGI'], cursor: string | null = null): Connector {
    return running(
      createXConnector({
        config: { apiBase: fake.url, bearerToken: fake.token, tags },
        cursor,
        sink,
        log: silent,
        ...quickRetries,
      }),
    );
  }

  it('syncs the rules: adds missing ones, deletes stale Carevoice ones, keeps foreign ones', async () => {
    const fake = track(await startFakeX());
    const foreign = fake.addRule('#nhs has:images', 'press-office');
    const current = fake.addRule('#ward7lgi', 'carevoice:ward7lgi');
    const stale = fake.addRule('#oldward', 'carevoice:oldward');
    const sink = createRecordingSink();
    const connector = connect(fake, sink, ['Ward7LGI', 'AE_waits']);
    await waitFor(() => connector.connected, 'the stream');

    expect(fake.seen.rulePosts).toEqual([{ delete: { ids: [stale.id] } }, { add: [{ value: '#ae_waits', tag: 'carevoice:ae_waits' }] }]);
    expect(fake.rules().map((rule) => rule.value)).toEqual([foreign.value, current.value, '#ae_waits']);
    expect(fake.seen.authorizations.every((header) => header === `Bearer ${fake.token}`)).toBe(true);
    expect(fake.seen.streamQueries[0]).toBe(
      'tweet.fields=created_at%2Centities%2Cauthor_id%2Cedit_history_tweet_ids&expansions=author_id&user.fields=username',
    );
  });

  it('plans no change when the rules already match', () => {
    expect(planRuleChanges([{ id: '1', value: '#ward7lgi', tag: 'carevoice:ward7lgi' }], ['ward7lgi'])).toEqual({ add: [], deleteIds: [] });
  });

  it('delivers a matching tweet with its author from includes, across keep-alives and split writes', async () => {
    const fake = track(await startFakeX());
    fake.addRule('#nhs', 'press-office');
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream');

    fake.keepAlive();
    fake.tweet({ text: 'Press release #NHS', username: 'press' });
    fake.keepAlive();
    const tweet = fake.tweet({ text: 'Waited 9 hours in A&E <again> #Ward7LGI', username: 'nhs_watcher', splitAcrossWrites: true });
    fake.keepAlive();

    await waitFor(() => sink.upserts.length === 1, 'the tweet');
    expect(sink.upserts[0]).toEqual({
      source: 'x',
      externalId: tweet.id,
      url: `https://x.com/nhs_watcher/status/${tweet.id}`,
      author: '@nhs_watcher',
      text: 'Waited 9 hours in A&E <again> #Ward7LGI',
      tags: ['ward7lgi'],
      postedAt: tweet.created_at,
      editedAt: null,
    });
    expect(sink.cursors).toEqual([tweet.id]);
    await settle();
    expect(sink.upserts).toHaveLength(1);
    expect(fake.seen.streamConnections).toBe(1);
  });

  it('delivers an edit under the id of the first version', async () => {
    const fake = track(await startFakeX());
    const sink = createRecordingSink();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream');

    const original = fake.tweet({ text: 'Ward 7 toilets #ward7lgi' });
    const edit = fake.edit(original.id, 'Ward 7 toilets, now fixed #ward7lgi');
    await waitFor(() => sink.upserts.length === 2, 'the edit');
    expect(sink.upserts[1]).toMatchObject({
      externalId: original.id,
      url: `https://x.com/ward_watcher/status/${edit.id}`,
      text: 'Ward 7 toilets, now fixed #ward7lgi',
      editedAt: edit.created_at,
    });
  });

  it('reconnects after a drop and backfills with since_id = the highest id seen', async () => {
    const fake = track(await startFakeX());
    const sink = createRecordingSink();
    const connector = connect(fake, sink, ['ward7lgi', 'ae_waits']);
    await waitFor(() => connector.connected, 'the stream');
    const seenLive = fake.tweet({ text: 'Before the drop #ward7lgi' });
    await waitFor(() => sink.upserts.length === 1, 'the live tweet');

    fake.dropStreams();
    const missed = [fake.tweet({ text: 'While down #AE_waits' }), fake.tweet({ text: 'Also while down #ward7lgi' })];
    fake.tweet({ text: 'Unrelated #elsewhere' });

    await waitFor(() => sink.upserts.length === 3 && connector.connected, 'the backfill');
    expect(sink.upserts.slice(1).map((post) => post.externalId)).toEqual(missed.map((tweet) => tweet.id));
    const search = new URLSearchParams(fake.seen.searchQueries[0]);
    expect(search.get('since_id')).toBe(seenLive.id);
    expect(search.get('query')).toBe('(#ward7lgi OR #ae_waits)');
    expect(search.get('expansions')).toBe('author_id');
    expect(sink.upserts[1]?.author).toBe('@ward_watcher');
    expect(fake.seen.searchQueries).toHaveLength(1);
    expect(fake.seen.streamConnections).toBe(2);
  });

  it('waits out a 429 and then connects', async () => {
    const fake = track(await startFakeX());
    fake.rateLimitStreams(2, null);
    const sink = createRecordingSink();
    const startedAt = Date.now();
    const connector = connect(fake, sink);
    await waitFor(() => connector.connected, 'the stream after the rate limit');
    // Without a reset time each 429 waits the longest back-off (200 ms), not the shortest (20 ms).
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(2 * quickRetries.maxBackoffMs - 20);
    expect(fake.seen.rateLimited).toBe(2);
    expect(fake.seen.streamQueries).toHaveLength(3);
  });
});
