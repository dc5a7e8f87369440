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
  const m = model('criticality');
  let level = 0;
  if (m) {
    const [label] = m.predict(text).labels;
    if (label !== undefined) level = criticalityToScale(label);
  }
  if (opts.rating === 5) level = Math.max(level, 3);
  if (opts.urgent) level = Math.max(level, 4);
  return Math.min(5, level);
}

/** Themes (QDC framework, with confidence) and a 5-level sentiment for a story or comment. */
export function classifyText(text: string): { themes: Array<{ label: string; score: number }>; sentiment: string | null } {
  const themesModel = model('themes');
  const sentimentModel = model('sentiment');
  let themes: Array<{ label: string; score: number }> = [];
  if (themesModel) {
    const p = themesModel.predict(text);
    themes = p.labels
      .filter((l) => l !== 'Not assigned' && l !== 'Labelling not possible')
      .map((label) => ({ label, score: Math.round((p.scores[label] ?? 0) * 1000) / 1000 }))
      .sort((a, b) => b.score - a.score);
  }
  const sentiment = sentimentModel ? (sentimentModel.predict(text).labels[0] ?? null) : null;
  return { themes, sentiment };
}

/** Every theme the shipped model knows (the framework's labels), less the two "no theme" labels. */
export function themeLabels(): string[] {
  return (model('themes')?.labels ?? []).filter((l) => l !== 'Not assigned' && l !== 'Labelling not possible');
}
