import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadComments } from '../../demo/comments.ts';
import { ROOT_DIR } from '../../platform/paths.ts';
import { loadModel } from './model.ts';
import { ModelSet } from './model-set.ts';

const models = ['themes', 'sentiment', 'criticality'].map((name) => loadModel(path.join(ROOT_DIR, 'models', `${name}.json.gz`)));

/** Texts that stress what the set does differently: repeated n-grams, apostrophes, accents, empty. */
const ODD = [
  '',
  '   ',
  "Didn't the nurse's 'care' work? Patients' views weren't asked.",
  'the the the the the waiting waiting waiting room room',
  'ÉCOLE café naïve façade, Zoë and Siân',
  'A&E at 3am: 4 hours, then 7 more!!! ok ok ok',
  'x'.repeat(500),
];

describe('ModelSet', () => {
  const set = new ModelSet(models);

  it("gives each model's own labels and scores for every shipped comment", () => {
    const texts = [...loadComments().map((c) => c.text), ...ODD];
    const differentLabels: string[] = [];
    let largest = 0;
    let compared = 0;
    for (const text of texts) {
      const together = set.predict(text);
      models.forEach((m, j) => {
        const alone = m.predict(text);
        const mine = together[j]!;
        if (mine.labels.join('|') !== alone.labels.join('|')) differentLabels.push(text);
        for (const label of m.labels) largest = Math.max(largest, Math.abs(mine.scores[label]! - alone.scores[label]!));
        compared++;
      });
    }
    expect(compared).toBe(texts.length * models.length);
    expect(differentLabels).toEqual([]);
    expect(largest).toBeLessThan(1e-9);
  }, 60_000);

  it('answers the same for a text read again, once its words are remembered', () => {
    const text = 'The staff on the ward were kind but the wait in A&E was far too long';
    const first = set.predict(text).map((p) => p.scores);
    set.predict('something else entirely, to move the scratch buffers on');
    expect(set.predict(text).map((p) => p.scores)).toEqual(first);
  });

  it('refuses models that do not share their hashing', () => {
    const other = loadModel(path.join(ROOT_DIR, 'models', 'themes.json.gz'));
    (other.parts.vectorizer.config as { hashBits: number }).hashBits = 18;
    expect(() => new ModelSet([models[0]!, other])).toThrow(/share hash bits/);
  });
});
