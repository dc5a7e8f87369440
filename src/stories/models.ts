import fs from 'node:fs';
import path from 'node:path';
import { loadModel, criticalityToScale, type Model } from '../nlp/classifier/index.ts';
import { ROOT_DIR } from '../platform/views.ts';

/** The shipped models, loaded once per process on first use (each loads in well under a second). */
const cache = new Map<string, Model | null>();
function model(name: string): Model | null {
  if (!cache.has(name)) {
    const file = path.join(ROOT_DIR, 'models', `${name}.json.gz`);
    cache.set(name, fs.existsSync(file) ? loadModel(file) : null);
  }
  return cache.get(name)!;
}

/**
 * The system's suggestion of criticality (0-5): the criticality model trained on the NHS coded
 * comments, raised to at least 4 when safeguarding flagged the story, and nudged by a very poor
 * rating. The moderator decides.
 */
export function suggestCriticality(text: string, opts: { urgent: boolean; rating: number | null }): number {
  let level = criticalityLevel(text);
  if (opts.rating === 5) level = Math.max(level, 3);
  if (opts.urgent) level = Math.max(level, 4);
  return Math.min(5, level);
}

/** The criticality model's level (0-5) for a text; the last answer is kept, as callers ask twice in a row. */
let lastCriticality: { text: string; level: number } | undefined;
function criticalityLevel(text: string): number {
  if (lastCriticality?.text === text) return lastCriticality.level;
  const m = model('criticality');
  let level = 0;
  if (m) {
    const [label] = m.predict(text).labels;
    if (label !== undefined) level = criticalityToScale(label);
  }
  lastCriticality = { text, level };
  return level;
}

/**
 * The sentiment model alone (trained on NHS comments that are mostly praise) calls too many
 * complaints "very positive" when it is unsure. The criticality model, trained on NHS comments
 * coded for how critical they are, is the better judge of a complaint, so it corrects the
 * sentiment: strongly critical is very negative, moderately critical at least negative, and mildly
 * critical cannot be positive.
 */
export function blendSentiment(sentiment: string | null, criticality: number): string | null {
  if (criticality >= 4) return '5';
  if (criticality >= 3) return sentiment === '5' ? '5' : '4';
  if (criticality === 2 && (sentiment === '1' || sentiment === '2')) return '3';
  return sentiment;
}

/** Labels that say how someone felt, not what about: no use for grouping problems. */
const NOT_A_TOPIC = new Set(['Not assigned', 'Labelling not possible', 'Negative experience & dissatisfaction', 'Positive experience & gratitude']);
const TOPIC_FLOOR = 0.08;

/**
 * Themes (QDC framework, with confidence), a 5-level sentiment, and topics: the three themes the
 * model finds likeliest, chosen or not, which is what hotspots group by (the themes model is often
 * unsure on short posts, and "dirty toilets" told four ways should still meet under one theme).
 */
export function classifyText(text: string): { themes: Array<{ label: string; score: number }>; sentiment: string | null; topics: string[] } {
  const themesModel = model('themes');
  const sentimentModel = model('sentiment');
  let themes: Array<{ label: string; score: number }> = [];
  let topics: string[] = [];
  if (themesModel) {
    const p = themesModel.predict(text);
    topics = Object.entries(p.scores)
      .filter(([label, score]) => !NOT_A_TOPIC.has(label) && score >= TOPIC_FLOOR)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([label]) => label);
    themes = p.labels
      .filter((l) => l !== 'Not assigned' && l !== 'Labelling not possible')
      .map((label) => ({ label, score: Math.round((p.scores[label] ?? 0) * 1000) / 1000 }))
      .sort((a, b) => b.score - a.score);
  }
  const sentiment = blendSentiment(sentimentModel ? (sentimentModel.predict(text).labels[0] ?? null) : null, criticalityLevel(text));
  return { themes, sentiment, topics };
}

/** Every theme the shipped model knows (the framework's labels), less the two "no theme" labels. */
export function themeLabels(): string[] {
  return (model('themes')?.labels ?? []).filter((l) => l !== 'Not assigned' && l !== 'Labelling not possible');
}

/**
 * Loads every shipped model now. `serve` calls it before it listens: loading one takes a few hundred
 * milliseconds with the event loop held, which would otherwise land on the first story told, and
 * delay everything else the server was doing at that moment (a live wall's events, say).
 */
export function warmModels(): void {
  classifyText('warm up');
  suggestCriticality('warm up', { urgent: false, rating: null });
}
