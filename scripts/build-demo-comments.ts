// Rebuilds src/demo/data/comments.jsonl from ../shared/data/patient-experience (see its NOTICE.md):
// comments of 60+ characters without anonymisation placeholders, with the fields the demo uses.
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';

const DATA = path.resolve(process.argv[2] ?? '../shared/data/patient-experience');
const keep = (t: string) => t.length >= 60 && !/\[|XXX|xxx/.test(t);
const read = (file: string) => parse(fs.readFileSync(path.join(DATA, file), 'utf8'), { columns: true, bom: true }) as Array<Record<string, string>>;
const lines: string[] = [];
for (const r of read('phase1-train.csv')) {
  const text = (r.feedback ?? '').trim();
  const criticality = Number.parseInt(r.criticality ?? '', 10);
  if (keep(text) && /^-?\d+$/.test(r.criticality ?? '')) lines.push(JSON.stringify({ text, source: 'phase1', org: r.organization, label: r.label, criticality }));
}
for (const r of read('v6-framework-neas.csv')) {
  const text = (r['FFT answer'] ?? '').trim();
  const sentiment = Number.parseInt(r['Comment sentiment'] ?? '', 10);
  const rating = Number.parseInt(r['FFT categorical answer'] ?? '', 10);
  if (keep(text) && sentiment > 0 && rating > 0) lines.push(JSON.stringify({ text, source: 'ambulance', sentiment, rating }));
}
fs.writeFileSync(path.resolve('src/demo/data/comments.jsonl'), `${lines.join('\n')}\n`);
console.log(`wrote ${lines.length} comments`);
