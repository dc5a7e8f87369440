// Trains the shipped text models into models/ and writes models/NOTICE.md with the held-out
// figures. Each model is first scored on a stratified, seeded 80/20 split (trained on the 80%),
// then retrained on all rows and saved. Run: npx tsx scripts/train-models.ts [--skip-eval]

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  benchmarkClassify,
  evaluateMulti,
  evaluateSingle,
  fitModel,
  loadModel,
  readCsvDocs,
  stratifiedFolds,
  trainFromCsv,
  type CsvDocs,
  type CsvSource,
  type TrainOptions,
} from '../src/nlp/classifier/index.ts';

const DATA = process.env.CAREVOICE_DATA ?? '/work/shared/data/patient-experience';
const OUT = join(import.meta.dirname, '..', 'models');
const SPLIT_SEED = 2024;
const skipEval = process.argv.includes('--skip-eval');

interface Spec {
  file: string;
  title: string;
  source: CsvSource;
  options: TrainOptions;
  note: string;
}

const specs: Spec[] = [
  {
    file: 'phase1-label.json.gz',
    title: 'phase-1 top-level theme (single-label, 9 classes)',
    source: { data: join(DATA, 'phase1-train.csv'), text: 'feedback', label: 'label' },
    options: { loss: 'svm', c: 0.3, classWeight: 'sqrt', features: { wordNgrams: [1, 3] } },
    note: 'pxtextmining phase-1 data, column `label`.',
  },
  {
    file: 'themes.json.gz',
    title: 'QDC framework v6 themes (multi-label)',
    source: { data: join(DATA, 'v6-framework-neas.csv'), text: 'FFT answer', labelsFile: join(DATA, 'v6-labels.txt') },
    options: { loss: 'svm', c: 0.3 },
    note: 'NEAS v6 one-hot columns only (phase-1 labels are a different scheme and were not mixed in). Per-label thresholds tuned by 3-fold cross-validation on the training rows.',
  },
  {
    file: 'sentiment.json.gz',
    title: 'comment sentiment 1 (very positive) .. 5 (very negative) (single-label)',
    source: { data: join(DATA, 'v6-framework-neas.csv'), text: 'FFT answer', label: 'Comment sentiment' },
    options: { loss: 'svm', c: 0.3, classWeight: 'sqrt' },
    note: 'NEAS v6 data, column `Comment sentiment`; rows without a sentiment skipped.',
  },
  {
    file: 'criticality.json.gz',
    title: 'phase-1 criticality -4..4 (single-label)',
    source: {
      data: join(DATA, 'phase1-train.csv'),
      text: 'feedback',
      label: 'criticality',
      keepLabel: (l) => /^-?[0-5]$/.test(l),
    },
    options: { loss: 'svm', c: 0.3, classWeight: 'sqrt' },
    note: 'pxtextmining phase-1 data, column `criticality`; malformed codes (NA, -o, -9, ...) skipped. Map with `criticalityToScale`.',
  },
];

function f4(x: number): string {
  return x.toFixed(3);
}

function heldOut(src: CsvDocs, options: TrainOptions): string[] {
  const folds = stratifiedFolds(src.docs, 5, SPLIT_SEED);
  const train = src.docs.filter((_, i) => folds[i] !== 0);
  const test = src.docs.filter((_, i) => folds[i] === 0);
  const opts: TrainOptions = { ...options };
  if (src.labels) opts.labels = src.labels;
  const { model } = fitModel(train, src.kind, opts);
  const pred = test.map((d) => model.predict(d.text).labels);
  const lines = [`held-out: ${test.length} of ${src.docs.length} rows (trained on ${train.length})`];
  if (src.kind === 'single') {
    const m = evaluateSingle(
      test.map((d) => d.labels[0] as string),
      pred.map((p) => p[0] ?? ''),
    );
    lines.push(`accuracy ${f4(m.accuracy)}, class-balance accuracy ${f4(m.classBalanceAccuracy)}, macro-F1 ${f4(m.macroF1)}`);
  } else {
    const m = evaluateMulti(
      test.map((d) => d.labels),
      pred,
    );
    lines.push(`micro-F1 ${f4(m.microF1)}, macro-F1 ${f4(m.macroF1)} (over labels present in the held-out rows), exact-set accuracy ${f4(m.subsetAccuracy)}`);
    const keep = test.map((d) => d.text.trim().toLowerCase() !== 'did not answer');
    const m2 = evaluateMulti(
      test.filter((_, i) => keep[i]).map((d) => d.labels),
      pred.filter((_, i) => keep[i]),
    );
    lines.push(
      `without the ${keep.filter((k) => !k).length} held-out rows whose text is "Did not answer": micro-F1 ${f4(m2.microF1)}, macro-F1 ${f4(m2.macroF1)}`,
    );
  }
  return lines;
}

const sections: string[] = [];
const benchTexts = readCsvDocs(specs[0]!.source).docs.map((d) => d.text);
for (const spec of specs) {
  const started = performance.now();
  const src = readCsvDocs(spec.source);
  const lines = skipEval ? ['held-out evaluation skipped'] : heldOut(src, spec.options);
  const out = join(OUT, spec.file);
  const report = await trainFromCsv({ ...spec.source, ...spec.options, out });
  const t0 = performance.now();
  loadModel(out);
  const loadMs = performance.now() - t0;
  const bench = benchmarkClassify(out, benchTexts, 2);
  const summary = [
    `### models/${spec.file}: ${spec.title}`,
    '',
    spec.note,
    '',
    ...lines.map((l) => `- ${l}`),
    `- final model: ${report.rows} training rows (${report.skippedEmptyText} empty texts and ${report.skippedNoLabel} unlabelled rows skipped), ${report.labels.length} labels, ${report.features} features, ${JSON.stringify(spec.options)}`,
    `- file ${(report.bytes / 1e6).toFixed(2)} MB, load ${loadMs.toFixed(0)} ms, ${Math.round(bench.perSecond)} comments/s on one core (phase-1 comments)`,
    '',
  ];
  console.log(summary.join('\n'), `(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  sections.push(summary.join('\n'));
}

const notice = `# Shipped text models

Trained by \`npx tsx scripts/train-models.ts\` (deterministic: seeded split, seeded solvers).

## Data licences

The training data are labelled NHS Friends and Family Test comments from the pxtextmining project,
Copyright (c) 2021 NHS England, MIT licence (data shared by the participating trusts). The QDC
framework (v6 labels) is from the PatientExperience-QDC project, Copyright (c) 2023 Craig Robert
Shenton, MIT licence. These models are derived from that data; keep this notice with them.

Both are under the MIT licence:

> Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
> associated documentation files (the "Software"), to deal in the Software without restriction,
> including without limitation the rights to use, copy, modify, merge, publish, distribute,
> sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
> furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
> NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
> OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

## Method

Lowercased word tokens (apostrophes dropped: "didn't" -> "didnt"), hashed word n-grams and
character 2-5-grams within word boundaries; buckets in at least 2 training documents kept;
sublinear TF x IDF, word and character blocks L2-normalised separately; one-vs-rest linear models
trained by dual coordinate descent (L2-loss SVM, as LinearSVC). Scores are sigmoid(2 x decision
value), normalised to sum to 1 for single-label models.

## Held-out figures

Stratified 80/20 split (seed ${SPLIT_SEED}) of the labelled rows; the model scored was trained on the
80% only; the shipped model was then retrained on all rows. For comparison, the published
pxtextmining phase-1 model scored accuracy 0.712 and class-balance accuracy 0.522 on its own
held-out split of the same source (not the same split as here).

${sections.join('\n')}`;
if (!skipEval) writeFileSync(join(OUT, 'NOTICE.md'), notice);
