import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadComments } from '../demo/comments.ts';
import { loadModel } from '../nlp/classifier/model.ts';
import { ModelSet } from '../nlp/classifier/model-set.ts';
import { ROOT_DIR } from '../platform/paths.ts';
import { keepStoryModels, readStoryModels, storyModelsKey } from './model-cache.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carevoice-models-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const shipped = ['themes', 'sentiment', 'criticality'].map((name) => path.join(ROOT_DIR, 'models', `${name}.json.gz`));
const keptFiles = () => fs.readdirSync(path.join(dir, 'cache')).filter((f) => f.endsWith('.bin'));

describe('the story models kept in memory form', () => {
  const built = new ModelSet(shipped.map((f) => loadModel(f)));

  it('read back, give the very decisions and labels of the models built from their files', () => {
    const cacheDir = path.join(dir, 'cache');
    expect(readStoryModels(storyModelsKey(shipped), cacheDir)).toBeUndefined();
    keepStoryModels(storyModelsKey(shipped), cacheDir, built);
    expect(keptFiles()).toHaveLength(1);
    const kept = readStoryModels(storyModelsKey(shipped), cacheDir)!;
    expect(kept.models.map((m) => m.labels)).toEqual(built.models.map((m) => m.labels));
    const texts = [...loadComments().slice(0, 300).map((c) => c.text), '', "Didn't the nurse's 'care' work?"];
    for (const text of texts) {
      const a = built.decisions(text).map((z) => Array.from(z));
      const b = kept.set.decisions(text).map((z) => Array.from(z));
      expect(b, text).toEqual(a);
      // Each model alone, as the app reads a story (probabilities and chosen labels).
      kept.models.forEach((m, j) => expect(m.predict(text)).toEqual(built.models[j]!.predict(text)));
    }
  });

  it('are not read for other model files, and those of earlier files are removed when new ones are kept', () => {
    const cacheDir = path.join(dir, 'cache');
    const changed = path.join(dir, 'sentiment.json.gz');
    fs.copyFileSync(shipped[1]!, changed);
    fs.appendFileSync(changed, Buffer.from([0]));
    const files = [shipped[0]!, changed, shipped[2]!];
    expect(readStoryModels(storyModelsKey(files), cacheDir)).toBeUndefined();
    keepStoryModels(storyModelsKey(files), cacheDir, built);
    expect(keptFiles()).toHaveLength(1);
    expect(readStoryModels(storyModelsKey(files), cacheDir)).toBeDefined();
    expect(readStoryModels(storyModelsKey(shipped), cacheDir)).toBeUndefined();
  });

  it('are built again, not misread, from a file cut short or not theirs', () => {
    const cacheDir = path.join(dir, 'damaged');
    keepStoryModels(storyModelsKey(shipped), cacheDir, built);
    const [file] = fs.readdirSync(cacheDir);
    const whole = fs.readFileSync(path.join(cacheDir, file!));
    fs.writeFileSync(path.join(cacheDir, file!), whole.subarray(0, whole.length - 1000));
    expect(readStoryModels(storyModelsKey(shipped), cacheDir)).toBeUndefined();
    fs.writeFileSync(path.join(cacheDir, file!), 'not a kept model set');
    expect(readStoryModels(storyModelsKey(shipped), cacheDir)).toBeUndefined();
  });
});
