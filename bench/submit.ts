// Telling stories under load: autocannon POSTs valid stories (real comments, varied services,
// roles, ratings and, for some, an email) at the app and, with the same settings, at the baseline.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { StoryInput } from '../src/stories/tell.ts';
import { titleFrom } from '../src/demo/stories.ts';
import { mulberry32 } from '../src/nlp/classifier/index.ts';
import { AUTHOR_ROLES } from '../src/stories/vocabulary.ts';
import { loadComments, ratingOf } from './lib/comments.ts';

export interface LoadResult {
  /** Answers 201 per second. */
  rps: number;
  /** Answers other than 201, and connection errors and timeouts. */
  errors: number;
  requests: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LoadOptions {
  connections: number;
  seconds: number;
  warmupSeconds: number;
}

/**
 * Request bodies of POST /api/v1/stories, each checked against the API's own schema so that every
 * one should be a 201; serialised once so the load generator spends nothing on them.
 */
export function storyBodies(serviceCodes: readonly string[], count = 2000, seed = 11): string[] {
  const random = mulberry32(seed);
  const comments = loadComments();
  const bodies: string[] = [];
  for (let i = 0; bodies.length < count && i < count * 4; i++) {
    const c = comments[Math.floor(random() * comments.length)]!;
    const story = {
      title: titleFrom(c.text),
      body: c.text,
      services: [serviceCodes[Math.floor(random() * serviceCodes.length)]!],
      authorRole: AUTHOR_ROLES[Math.floor(random() * AUTHOR_ROLES.length)]!.key,
      rating: ratingOf(c),
      ...(random() < 0.3 ? { email: `teller${i}@example.org` } : {}),
    };
    if (StoryInput.safeParse(story).success) bodies.push(JSON.stringify(story));
  }
  return bodies;
}

function run(url: string, bodies: readonly string[], connections: number, seconds: number): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/api/v1/stories',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: bodies[next++ % bodies.length] }),
      },
    ],
  });
}

/**
 * A short unmeasured run first (JIT, connection set-up, page cache), then the measured one, from a
 * process of its own: on two cores the load generator is what bounds the baseline, and in the
 * benchmark's process it shared a heap of about 900 MB (the generated data, the models, the import)
 * and its collections. Both servers are loaded by the same fresh process.
 */
export async function loadStories(baseUrl: string, bodies: readonly string[], o: LoadOptions): Promise<LoadResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-load-'));
  try {
    const file = path.join(dir, 'bodies.json');
    fs.writeFileSync(file, JSON.stringify(bodies));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', import.meta.resolve('tsx'), fileURLToPath(import.meta.url), baseUrl, file, JSON.stringify(o)],
      { maxBuffer: 1 << 20, timeout: (o.seconds + o.warmupSeconds + 60) * 1000 },
    );
    return JSON.parse(stdout) as LoadResult;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The load, in this process. */
async function loadHere(baseUrl: string, bodies: readonly string[], o: LoadOptions): Promise<LoadResult> {
  if (o.warmupSeconds > 0) await run(baseUrl, bodies, o.connections, o.warmupSeconds);
  const r = await run(baseUrl, bodies, o.connections, o.seconds);
  const created = r.statusCodeStats?.['201']?.count ?? 0;
  return {
    rps: Math.round(created / r.duration),
    errors: r.requests.total - created + r.errors,
    requests: r.requests.total,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
  };
}

// Run as a child by loadStories: node --import tsx bench/submit.ts <url> <bodies.json> <options>
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [url, file, options] = process.argv.slice(2);
  const result = await loadHere(url!, JSON.parse(fs.readFileSync(file!, 'utf8')) as string[], JSON.parse(options!) as LoadOptions);
  process.stdout.write(JSON.stringify(result));
}
