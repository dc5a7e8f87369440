// Throughput of the text tools on one core, on the real comments shipped for the demo, against a
// baseline measured in the same run: splitting each comment into lower-case words, the least any
// text tool must do. Run: npx tsx bench/nlp.ts   (SECONDS=3 by default per measure)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/nlp/classifier/index.ts';
import { redact } from '../src/nlp/redact/index.ts';
import { assessSafeguarding } from '../src/nlp/safeguarding/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const texts = fs
  .readFileSync(path.join(root, 'src/demo/data/comments.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => (JSON.parse(l) as { text: string }).text);
const seconds = Number(process.env.SECONDS ?? 3);

function perSecond(fn: (t: string) => unknown): number {
  let n = 0;
  let sink = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 200; i++) {
      const r = fn(texts[n % texts.length]!);
      sink += r ? 1 : 0;
      n++;
    }
  }
  if (sink < 0) console.log(sink);
  return Math.round(n / seconds);
}

const loads: Record<string, number> = {};
const model = (name: string) => {
  const t0 = performance.now();
  const m = loadModel(path.join(root, 'models', `${name}.json.gz`));
  loads[name] = Math.round(performance.now() - t0);
  return m;
};
const themes = model('themes');
const sentiment = model('sentiment');
const criticality = model('criticality');
const phase1 = model('phase1-label');

const baseline = perSecond((t) => t.toLowerCase().split(/\W+/).length);
const result = {
  comments: texts.length,
  mean_chars: Math.round(texts.reduce((a, t) => a + t.length, 0) / texts.length),
  'baseline.split_per_s': baseline,
  'classify.themes_per_s': perSecond((t) => themes.predict(t).labels.length),
  'classify.sentiment_per_s': perSecond((t) => sentiment.predict(t).labels.length),
  'classify.criticality_per_s': perSecond((t) => criticality.predict(t).labels.length),
  'classify.phase1_per_s': perSecond((t) => phase1.predict(t).labels.length),
  'classify.all_three_per_s': perSecond((t) => themes.predict(t).labels.length + sentiment.predict(t).labels.length + criticality.predict(t).labels.length),
  'redact.per_s': perSecond((t) => redact(t).findings.length),
  'safeguarding.per_s': perSecond((t) => assessSafeguarding(t).urgent),
  model_load_ms: loads,
};
console.log(JSON.stringify({ ...result, 'classify.themes_ratio_to_baseline': Math.round((result['classify.themes_per_s'] / baseline) * 1000) / 1000, 'redact.ratio_to_baseline': Math.round((result['redact.per_s'] / baseline) * 1000) / 1000 }, null, 2));
