// Throughput of the text tools on one core, on the real comments shipped for the demo, against a
// baseline measured in the same run: splitting each comment into lower-case words, the least any
// text tool must do. Run: npx tsx bench/nlp.ts   (SECONDS=3 by default per measure)
import path from 'node:path';
import { loadModel, ModelSet } from '../src/nlp/classifier/index.ts';
import { redact } from '../src/nlp/redact/index.ts';
import { assessSafeguarding } from '../src/nlp/safeguarding/index.ts';
import { commentTexts } from './lib/comments.ts';
import { ROOT } from './lib/paths.ts';
import { perSecond as perSecondOn } from './lib/throughput.ts';

const texts = commentTexts();
const seconds = Number(process.env.SECONDS ?? 3);
const perSecond = (fn: (t: string) => unknown): number => perSecondOn(texts, fn, seconds);

const loads: Record<string, number> = {};
const model = (name: string) => {
  const t0 = performance.now();
  const m = loadModel(path.join(ROOT, 'models', `${name}.json.gz`));
  loads[name] = Math.round(performance.now() - t0);
  return m;
};
const themes = model('themes');
const sentiment = model('sentiment');
const criticality = model('criticality');
const phase1 = model('phase1-label');
const together = new ModelSet([themes, sentiment, criticality]);

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
  // The same three read together, as a story is (src/nlp/classifier/model-set.ts).
  'classify.all_three_together_per_s': perSecond((t) => together.predict(t).length),
  'redact.per_s': perSecond((t) => redact(t).findings.length),
  'safeguarding.per_s': perSecond((t) => assessSafeguarding(t).urgent),
  model_load_ms: loads,
};
console.log(JSON.stringify({ ...result, 'classify.themes_ratio_to_baseline': Math.round((result['classify.themes_per_s'] / baseline) * 1000) / 1000, 'redact.ratio_to_baseline': Math.round((result['redact.per_s'] / baseline) * 1000) / 1000 }, null, 2));
