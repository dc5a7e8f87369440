// Latency of the public read paths on the demo data (2,000 stories), measured in-process with
// Fastify's inject, against a baseline of /healthz measured in the same run.
// Run: npx tsx bench/pages.ts  (a fresh SQLite file; DATABASE_URL=postgres://... for a fresh PostgreSQL database on that server)
import pino from 'pino';
import { loadConfig } from '../src/config.ts';
import { createViews } from '../src/platform/views.ts';
import { buildApp } from '../src/app.ts';
import { seedDemo } from '../src/demo/seed.ts';
import { createApiKey } from '../src/platform/auth/index.ts';
import { createBenchDatabase } from './lib/database.ts';
import { summarise } from './lib/stats.ts';

// A fresh database: a temporary SQLite file, or carevoice_bench_pages on DATABASE_URL's PostgreSQL server.
const database = await createBenchDatabase(process.env.DATABASE_URL, 'carevoice_bench_pages');
const config = loadConfig({ ...process.env, DATABASE_URL: database.url, LOG_LEVEL: 'silent', STORY_RATE_LIMIT: '0' });
const handle = database.open();
// The benchmark's database is dropped however the run ends (a page that does not answer 200 throws).
try {
  await seedDemo(handle, { publicUrl: config.publicUrl });
  const app = await buildApp({ config, handle, log: pino({ level: 'silent' }), views: createViews(), secret: 'bench-secret-bench-secret-bench-secret-12' });
  await app.ready();

  const words = ['waiting', 'parking', 'nurse kind', 'food', 'appointment', 'rude', 'clean ward', 'pain', 'ambulance late', 'thank you'];
  const responder = await handle.db.selectFrom('users').select('id').where('email', '=', 'responder@demo.carevoice').executeTakeFirstOrThrow();
  const key = await createApiKey(handle.db, responder.id);
  async function measure(urls: string[], n: number): Promise<{ p50: number; p95: number; max: number }> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const url = urls[i % urls.length]!;
      const t0 = performance.now();
      const res = await app.inject({ url, headers: { accept: url.startsWith('/api') ? 'application/json' : 'text/html', ...(url.includes('inbox') ? { authorization: `Bearer ${key}` } : {}) } });
      times.push(performance.now() - t0);
      if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
    }
    const { p50, p95, max } = summarise(times);
    return { p50, p95, max };
  }

  const n = Number(process.env.N ?? 300);
  const baseline = await measure(['/healthz'], n);
  const search = await measure(words.map((w) => `/api/v1/stories?q=${encodeURIComponent(w)}`), n);
  const searchPage = await measure(words.map((w) => `/stories?q=${encodeURIComponent(w)}`), n);
  const servicePage = await measure(['/services/RR8', '/services/RR813-W07', '/services/RX8-PTS', '/services/RGD'], n);
  const listByService = await measure(['/api/v1/stories?service=RR8', '/api/v1/stories?service=RR813&tag=Waiting%20times'], n);
  const measuresApi = await measure(['/api/v1/measures?org=RR8', '/api/v1/measures?service=RR813-W07', '/api/v1/measures'], n);
  const inboxApi = await measure(['/api/v1/inbox', '/api/v1/inbox?unanswered=1', '/api/v1/inbox?criticality=3'], n);
  console.log(JSON.stringify({ database: handle.dialect, stories: 2000, requests: n, baseline_healthz_ms: baseline, search_api_ms: search, search_page_ms: searchPage, service_page_ms: servicePage, list_by_service_ms: listByService, measures_api_ms: measuresApi, inbox_api_ms: inboxApi, 'search.ratio_p95_to_baseline': Math.round((search.p95 / baseline.p95) * 10) / 10 }, null, 2));
  await app.close();
} finally {
  await handle.close();
  await database.drop();
}
