import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyFile, trainFromCsv, benchmarkClassify } from './api.ts';
import { mulberry32, trainBinary } from './linear.ts';
import { Model, loadModel, saveModel, type ModelFile } from './model.ts';
import { fitModel, resolveOptions, tuneThreshold, type Doc } from './train.ts';

const TOPICS: Record<string, string[]> = {
  parking: ['parking', 'car park', 'parking spaces', 'pay and display', 'parking was expensive'],
  staff: ['nurse', 'doctor was kind', 'staff were rude', 'receptionist', 'friendly nurses'],
  food: ['food', 'meals were cold', 'sandwich', 'hot drinks', 'menu choice'],
};
const FILLER = ['the', 'was', 'very', 'and', 'a', 'bit', 'really', 'today', 'at', 'hospital', 'ward', 'visit'];

function makeDocs(n: number, seed: number, multi = false): Doc[] {
  const rand = mulberry32(seed);
  const pick = <T>(a: T[]): T => a[Math.floor(rand() * a.length)] as T;
  const topics = Object.keys(TOPICS);
  const docs: Doc[] = [];
  for (let i = 0; i < n; i++) {
    const labels = [pick(topics)];
    if (multi && rand() < 0.4) {
      const other = pick(topics.filter((t) => t !== labels[0]));
      labels.push(other);
    }
    const words: string[] = [];
    for (const l of labels) words.push(pick(TOPICS[l] as string[]), pick(FILLER));
    for (let k = 0; k < 3; k++) words.splice(Math.floor(rand() * words.length), 0, pick(FILLER));
    docs.push({ text: words.join(' '), labels: labels.sort() });
  }
  return docs;
}

const SMALL = { features: { hashBits: 16 } };

describe('binary solvers', () => {
  for (const loss of ['lr', 'svm'] as const) {
    it(`${loss} separates a separable toy problem`, () => {
      // two features; class = sign of feature 0 - feature 1
      const rows = [
        [1, 0],
        [0.9, 0.1],
        [0, 1],
        [0.2, 0.8],
      ];
      const y = Int8Array.from([1, 1, -1, -1]);
      const x = {
        rowPtr: Int32Array.from([0, 2, 4, 6, 8]),
        idx: Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]),
        val: Float32Array.from(rows.flat()),
        nRows: 4,
        nCols: 2,
      };
      const m = trainBinary(x, y, { loss, cPos: 10, cNeg: 10, maxIter: 200, eps: 1e-4, seed: 1, biasFeature: 1 });
      rows.forEach((r, i) => {
        const z = (m.w[0] as number) * (r[0] as number) + (m.w[1] as number) * (r[1] as number) + m.bias;
        expect(Math.sign(z)).toBe(y[i]);
      });
    });
  }
});

describe('single-label training', () => {
  const train = makeDocs(300, 1);
  const test = makeDocs(100, 2);
  for (const loss of ['lr', 'svm'] as const) {
    it(`learns a synthetic topic set (${loss})`, () => {
      const { model } = fitModel(train, 'single', { ...SMALL, loss, c: 1 });
      expect(model.labels).toEqual(['food', 'parking', 'staff']);
      let ok = 0;
      for (const d of test) if (model.predict(d.text).labels[0] === d.labels[0]) ok++;
      expect(ok / test.length).toBeGreaterThanOrEqual(0.95);
      const p = model.predict('the car park was full');
      expect(p.labels).toEqual(['parking']);
      const sum = Object.values(p.scores).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1);
    });
  }

  it('is deterministic', () => {
    const a = fitModel(train, 'single', { ...SMALL, c: 1 }).model.predict('cold meals and rude staff').scores;
    const b = fitModel(train, 'single', { ...SMALL, c: 1 }).model.predict('cold meals and rude staff').scores;
    expect(a).toEqual(b);
  });

  it('chooses C by cross-validation when given several', () => {
    const f = fitModel(train, 'single', { ...SMALL, c: [0.01, 1] });
    expect(f.cv.map((r) => r.c)).toEqual([0.01, 1]);
    expect(f.cv.every((r) => r.score > 0.5)).toBe(true);
  });

  it('defaults to the stacked ensemble with C picked from a grid', () => {
    const r = resolveOptions('single', {});
    expect(r.members.length).toBe(4);
    expect(r.c.length).toBeGreaterThan(1);
    expect(r.classWeight).toBe('sqrt');
    expect(r.stack).not.toBe(false);
    expect(r.features.wordNgrams).toEqual([1, 3]);
    // explicit options win; undefined ones do not clobber the defaults
    expect(resolveOptions('single', { loss: 'svm', c: undefined, features: { hashBits: 16 } }).members).toEqual([{ loss: 'svm' }]);
    expect(resolveOptions('multi', { features: { minDf: undefined } }).features.minDf).toBe(2);
    const f = fitModel(train, 'single', SMALL);
    expect(f.cv.map((r) => r.c)).toEqual(resolveOptions('single', {}).c);
    let ok = 0;
    for (const d of test) if (f.model.predict(d.text).labels[0] === d.labels[0]) ok++;
    expect(ok / test.length).toBeGreaterThanOrEqual(0.95);
  });

  it('folds an ensemble into one weight matrix (average of member decisions)', () => {
    const one = { ...SMALL, c: 1, stack: false } as const;
    const a = fitModel(train, 'single', { ...one, members: [{ loss: 'svm', block: 'word' }] }).model;
    const b = fitModel(train, 'single', { ...one, members: [{ loss: 'svm', block: 'char', nbAlpha: 1 }] }).model;
    const ab = fitModel(train, 'single', { ...one, members: [{ loss: 'svm', block: 'word' }, { loss: 'svm', block: 'char', nbAlpha: 1 }] }).model;
    for (const t of ['cold meals', 'the car park was full', 'rude staff at the ward']) {
      const za = Array.from(a.decision(t));
      const zb = Array.from(b.decision(t));
      const zab = Array.from(ab.decision(t));
      // members are seeded differently inside an ensemble: equal up to solver tolerance
      zab.forEach((z, k) => expect(z).toBeCloseTo(((za[k] as number) + (zb[k] as number)) / 2, 2));
    }
  });

  it('rejects a single class', () => {
    expect(() => fitModel([{ text: 'a', labels: ['x'] }], 'single')).toThrow(/two different labels/);
  });
});

describe('multi-label', () => {
  it('tunes a best-F1 threshold and refuses unlearnable labels', () => {
    const thr = tuneThreshold([0.9, 0.8, 0.6, 0.3, 0.1], [true, true, false, true, false]);
    // cut after 0.3 keeps tp 3 of 4 predicted (F1 6/7) better than after 0.8 (F1 4/5)
    expect(thr).toBeCloseTo(0.2);
    expect(tuneThreshold([0.2, 0.1], [false, false])).toBe(1);
    expect(tuneThreshold([0.3, 0.2, 0.2, 0.1], [false, false, false, true])).toBe(1);
  });

  it('predicts several labels and always at least one for on-topic text', () => {
    const { model } = fitModel(makeDocs(400, 3, true), 'multi', { ...SMALL, c: 1, labels: ['parking', 'staff', 'food'] });
    expect(model.parts.thresholds?.length).toBe(3);
    const test = makeDocs(100, 4, true);
    let exact = 0;
    for (const d of test) {
      const p = model.predict(d.text).labels.sort();
      if (p.join() === d.labels.join()) exact++;
    }
    expect(exact / test.length).toBeGreaterThanOrEqual(0.85);
    expect(model.predict('parking spaces and a friendly nurse').labels.sort()).toEqual(['parking', 'staff']);
  });
});

describe('minLabels', () => {
  it('adds the top-scoring label when none passes its threshold, above the floor only', () => {
    const docs = makeDocs(300, 7, true);
    const { model } = fitModel(docs, 'multi', { ...SMALL, c: 1, labels: ['parking', 'staff', 'food'], minLabels: 1, minScore: 0.1 });
    expect(model.parts.minLabels).toBe(1);
    model.parts.thresholds = Float64Array.from([0.999, 0.999, 0.999]);
    model.parts.fallbackRatio = Infinity;
    const p = model.predict('the car park was full');
    expect(p.labels).toEqual(['parking']);
    model.parts.minScore = 0.9999;
    expect(model.predict('the car park was full').labels).toEqual([]);
    model.parts.minLabels = 0;
    model.parts.minScore = 0.1;
    expect(model.predict('the car park was full').labels).toEqual([]);
  });

  it('is off by default and survives the file format', () => {
    const docs = makeDocs(200, 8, true);
    const labels = ['parking', 'staff', 'food'];
    expect(fitModel(docs, 'multi', { ...SMALL, c: 1, labels }).model.parts.minLabels).toBeUndefined();
    const { model } = fitModel(docs, 'multi', { ...SMALL, c: 1, labels, minLabels: 1 });
    const back = Model.fromFile(JSON.parse(JSON.stringify(model.toFile())) as ModelFile);
    expect(back.parts.minLabels).toBe(1);
    expect(back.parts.minScore).toBeCloseTo(model.parts.minScore as number);
  });
});

describe('files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cv-classifier-'));
  const csv = join(dir, 'train.csv');
  const rows = makeDocs(200, 5);
  writeFileSync(
    csv,
    'id,comment,theme,parking,staff,food\n' +
      rows.map((d, i) => `${i},"${d.text}",${d.labels[0]},${d.labels.includes('parking') ? 1 : ''},${d.labels.includes('staff') ? 1 : ''},${d.labels.includes('food') ? 1 : ''}`).join('\n') +
      '\n999,,staff,,1,\n998,"no label here",,,,\n',
  );
  const labelsFile = join(dir, 'labels.txt');
  writeFileSync(labelsFile, 'parking\nstaff\nfood\n');

  it('trains from CSV, saves, loads and classifies JSON lines', async () => {
    const out = join(dir, 'm.json.gz');
    const report = await trainFromCsv({ data: csv, text: 'comment', label: 'theme', out, c: 1, ...SMALL, extraRows: [{ text: 'valet service', labels: ['parking'] }] });
    expect(report.rows).toBe(201); // 200 CSV rows + 1 extra row
    expect(report.skippedEmptyText).toBe(1);
    expect(report.skippedNoLabel).toBe(1);
    expect(report.extraRows).toBe(1);
    const model = loadModel(out);
    expect(model.kind).toBe('single');
    expect(model.predict('valet service').labels).toEqual(['parking']);
    const inFile = join(dir, 'in.jsonl');
    writeFileSync(inFile, '{"id":"a","text":"cold meals"}\n\n{"id":2,"text":"rude staff"}\n');
    const res = await classifyFile({ model: out, in: inFile, out: join(dir, 'out.jsonl') });
    expect(res.count).toBe(2);
    const lines = readFileSync(join(dir, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: unknown; labels: string[]; scores: Record<string, number> });
    expect(lines.map((l) => [l.id, l.labels])).toEqual([
      ['a', ['food']],
      [2, ['staff']],
    ]);
    expect(Object.keys(lines[0]?.scores ?? {}).sort()).toEqual(['food', 'parking', 'staff']);
    expect(benchmarkClassify(out, ['cold meals'], 0.05).perSecond).toBeGreaterThan(0);
  });

  it('round-trips a multi-label model through the file format', async () => {
    const out = join(dir, 'multi.json');
    const report = await trainFromCsv({ data: csv, text: 'comment', labelsFile, out, c: 1, ...SMALL });
    expect(report.kind).toBe('multi');
    expect(report.skippedNoLabel).toBe(1);
    const { model } = fitModel(makeDocs(100, 6, true), 'multi', { ...SMALL, c: 1, labels: ['parking', 'staff', 'food'] });
    const path = join(dir, 'again.json.gz');
    saveModel(model, path);
    const back = loadModel(path);
    expect(back.labels).toEqual(model.labels);
    for (const t of ['car park', 'nurse and sandwich', 'nothing at all']) {
      const a = model.predict(t);
      const b = back.predict(t);
      expect(b.labels).toEqual(a.labels);
      for (const l of model.labels) expect(b.scores[l]).toBeCloseTo(a.scores[l] as number, 3);
    }
  });

  it('gives clear errors for bad input', async () => {
    const out = join(dir, 'x.json');
    await expect(trainFromCsv({ data: join(dir, 'nope.csv'), text: 'comment', label: 'theme', out })).rejects.toThrow(/data file not found/);
    await expect(trainFromCsv({ data: csv, text: 'body', label: 'theme', out })).rejects.toThrow(/column "body" not found/);
    await expect(trainFromCsv({ data: csv, text: 'comment', label: 'theme', labelsFile, out })).rejects.toThrow(/either/);
    await expect(trainFromCsv({ data: csv, text: 'comment', labelsFile: join(dir, 'none.txt'), out })).rejects.toThrow(/labels file not found/);
    await expect(trainFromCsv({ data: csv, text: 'comment', label: 'theme', out, extraRows: [{ text: 'x', labels: ['a', 'b'] }] })).rejects.toThrow(/single-label/);
    const badLabels = join(dir, 'bad-labels.txt');
    writeFileSync(badLabels, 'parking\nmissing\n');
    await expect(trainFromCsv({ data: csv, text: 'comment', labelsFile: badLabels, out })).rejects.toThrow(/column "missing" not found/);
    const model = join(dir, 'ok.json');
    await trainFromCsv({ data: csv, text: 'comment', label: 'theme', out: model, c: 1, ...SMALL });
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"id":1,"text":"ok"}\n{"id":2,"text":\n');
    await expect(classifyFile({ model, in: bad, out: join(dir, 'o.jsonl') })).rejects.toThrow(/line 2 .*not valid JSON/);
    writeFileSync(bad, '{"id":1}\n');
    await expect(classifyFile({ model, in: bad, out: join(dir, 'o.jsonl') })).rejects.toThrow(/line 1 .*"text"/);
    expect(() => loadModel(join(dir, 'missing.json'))).toThrow(/cannot read model file/);
    writeFileSync(join(dir, 'junk.json'), '{"hello":1}');
    expect(() => loadModel(join(dir, 'junk.json'))).toThrow(/not a Carevoice text classifier/);
  });
});
