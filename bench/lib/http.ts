// A small HTTP client over node:http with keep-alive: less overhead per request than fetch, so the
// latencies measured are the server's, and the same agent settings for every measurement.
import http from 'node:http';
import { summarise, type LatencySummary } from './stats.ts';

export interface Answer {
  status: number;
  body: string;
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export function request(url: string, o: { agent: http.Agent; method?: string; headers?: Record<string, string>; json?: unknown }): Promise<Answer> {
  const body = o.json === undefined ? undefined : JSON.stringify(o.json);
  const headers = { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: o.method ?? 'GET', agent: o.agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface LatencyOptions {
  /** Paths under `base`, taken in turn. */
  paths: readonly string[];
  requests: number;
  /** The first requests warm up the server (JIT, caches, page cache) and are not counted. */
  warmup: number;
  concurrency: number;
  /** No new request after this long: on a large data set a slow route would otherwise take hours. */
  maxSeconds?: number;
  headers?: Record<string, string>;
}

export interface LatencyResult extends LatencySummary {
  /** Answers other than 200. */
  errors: number;
}

/**
 * Closed-loop latency: `concurrency` clients, each sending its next request when the last one has
 * answered, until `warmup + requests` have been sent or `maxSeconds` have passed (the summary's `n`
 * says how many were measured). Low concurrency measures the time one request takes rather than how
 * requests queue.
 */
export async function sampleLatency(base: string, o: LatencyOptions): Promise<LatencyResult> {
  const agent = keepAliveAgent(o.concurrency);
  const total = o.warmup + o.requests;
  const times: number[] = [];
  let next = 0;
  let errors = 0;
  const stopAt = performance.now() + (o.maxSeconds ?? Infinity) * 1000;
  const client = async () => {
    while (next < total && performance.now() < stopAt) {
      const i = next++;
      const t0 = performance.now();
      const res = await request(base + o.paths[i % o.paths.length]!, { agent, headers: o.headers });
      const ms = performance.now() - t0;
      if (res.status !== 200) errors++;
      if (i >= o.warmup) times.push(ms);
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, client));
  } finally {
    agent.destroy();
  }
  return { ...summarise(times), errors };
}
