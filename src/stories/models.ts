import fs from 'node:fs';
import path from 'node:path';
import { loadModel, criticalityToScale, ModelSet, type Model } from '../nlp/classifier/index.ts';
import { BUILD_CACHE_DIR, ROOT_DIR } from '../platform/paths.ts';
import { keepStoryModels, readStoryModels, storyModelsKey } from './model-cache.ts';

const modelFile = (name: string) => path.join(ROOT_DIR, 'models', `${name}.json.gz`);

/** The shipped models, loaded once per process on first use (each loads in well under a second). */
const cache = new Map<string, Model | null>();
function model(name: string): Model | null {
  if ((STORY_MODELS as readonly string[]).includes(name)) theStorySet();
  if (!cache.has(name)) {
    const file = modelFile(name);
    cache.set(name, fs.existsSync(file) ? loadModel(file) : null);
  }
  return cache.get(name)!;
}

const STORY_MODELS = ['themes', 'sentiment', 'criticality'] as const;
type StoryModel = (typeof STORY_MODELS)[number];

/**
 * The three models every story is read by, read together (see ModelSet); null when one of them is
 * missing. As kept in memory form by an earlier process (model-cache.ts), or loaded, built and kept.
 */
let storySet: ModelSet | null | undefined;
function theStorySet(): ModelSet | null {
  if (storySet !== undefined) return storySet;
  const files = STORY_MODELS.map(modelFile);
  if (!files.every((f) => fs.existsSync(f))) {
    storySet = null;
    return storySet;
  }
  const key = storyModelsKey(files);
  const kept = readStoryModels(key, BUILD_CACHE_DIR);
  const set = kept?.set ?? new ModelSet(files.map((f) => loadModel(f)));
  if (!kept) keepStoryModels(key, BUILD_CACHE_DIR, set);
  STORY_MODELS.forEach((name, i) => cache.set(name, set.models[i] as Model));
  storySet = set;
  return storySet;
}

/** A story model's label probabilities for one text, and the labels it chooses (best first). */
interface Reading {
  model: Model;
  p: Float64Array;
  chosen: number[];
}

/**
 * What each story model makes of a text; the last text's answers are kept, as the criticality is
 * asked for twice in a row (by classifyText and suggestCriticality).
 */
let lastRead: { text: string; readings: Partial<Record<StoryModel, Reading>> } | undefined;
function read(text: string): Partial<Record<StoryModel, Reading>> {
  if (lastRead?.text === text) return lastRead.readings;
  const set = theStorySet();
  const zs = set?.decisions(text);
  const readings: Partial<Record<StoryModel, Reading>> = {};
  STORY_MODELS.forEach((name, i) => {
    const m = set ? (set.models[i] as Model) : model(name);
    if (!m) return;
    const p = zs ? m.probabilitiesOf(zs[i] as Float64Array) : m.probabilities(text);
    readings[name] = { model: m, p, chosen: m.chooseLabels(p) };
  });
  lastRead = { text, readings };
  return readings;
}

const bestLabel = (r: Reading | undefined): string | undefined => (r && r.chosen.length ? r.model.labels[r.chosen[0] as number] : undefined);

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

/** The criticality model's level (0-5) for a text. */
function criticalityLevel(text: string): number {
  const label = bestLabel(read(text).criticality);
  return label === undefined ? 0 : criticalityToScale(label);
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
  const readings = read(text);
  let themes: Array<{ label: string; score: number }> = [];
  let topics: string[] = [];
  const r = readings.themes;
  if (r) {
    const { labels } = r.model;
    const p = r.p;
    const candidates: number[] = [];
    for (let k = 0; k < labels.length; k++) if ((p[k] as number) >= TOPIC_FLOOR && !NOT_A_TOPIC.has(labels[k] as string)) candidates.push(k);
    topics = candidates
      .sort((a, b) => (p[b] as number) - (p[a] as number))
      .slice(0, 3)
      .map((k) => labels[k] as string);
    themes = r.chosen
      .filter((k) => labels[k] !== 'Not assigned' && labels[k] !== 'Labelling not possible')
      .map((k) => ({ label: labels[k] as string, score: Math.round((p[k] as number) * 1000) / 1000 }))
      .sort((a, b) => b.score - a.score);
  }
  const sentiment = blendSentiment(bestLabel(readings.sentiment) ?? null, criticalityLevel(text));
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
