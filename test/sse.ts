import { createParser } from 'eventsource-parser';

export interface ReceivedEvent {
  id: string | undefined;
  event: string | undefined;
  data: { id: number; type: string; subject: string | null; item?: { kind: string; id: string; text: string; title: string; services: Array<{ code: string }> } };
  at: number;
}

/** A live-wall client for tests: reads /api/v1/live with fetch and records every event with its arrival time. */
export async function openLive(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const res = await fetch(url, { headers, signal: controller.signal });
  const events: ReceivedEvent[] = [];
  const listeners = new Set<() => void>();
  const parser = createParser({
    onEvent(e) {
      events.push({ id: e.id, event: e.event, data: JSON.parse(e.data) as ReceivedEvent['data'], at: performance.now() });
      for (const l of listeners) l();
    },
  });
  const done = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      /* aborted */
    }
  })();
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    headers: res.headers,
    events,
    /** Resolves with the first event (from index `from`) that matches, or rejects after `ms`. */
    waitFor(match: (e: ReceivedEvent) => boolean, ms = 10_000, from = 0): Promise<ReceivedEvent> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.slice(from).find(match);
          if (hit) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no matching live event within ${ms} ms; got ${events.map((e) => e.event).join(', ')}`));
        }, ms);
        listeners.add(check);
        check();
      });
    },
    async close() {
      controller.abort();
      await done;
    },
  };
}

export async function waitUntil<T>(fn: () => Promise<T | undefined | null | false>, ms = 10_000, step = 100): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, step));
  }
}
