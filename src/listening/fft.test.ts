import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFftFile } from './fft.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fft-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
function csv(text: string): string {
  const file = path.join(dir, `export-${++files}.csv`);
  fs.writeFileSync(file, text);
  return file;
}

describe('readFftFile', () => {
  it('names the line a bad row starts on, after comments with line breaks and empty lines', async () => {
    for (const eol of ['\n', '\r\n']) {
      const file = csv(
        [
          'date,service_code,rating,comment',
          '2026-11-02,RR813-W07,1,"First paragraph.',
          '',
          'Second paragraph, after an empty line."',
          '',
          '2026-11-03,RR813-W07,9,"A rating out of range"',
          '2026-11-04,RR813-W07,2,"Fine"',
          'yesterday,RR813-W07,2,"Also',
          'two lines"',
        ].join(eol),
      );
      await expect(readFftFile(file)).rejects.toThrow(/line 6: rating must be 1 \(very good\) to 5 \(very poor\) or empty, got "9"; line 8: date must be YYYY-MM-DD, got "yesterday"$/);
    }
  });

  it('reads good rows whole, comments with their line breaks', async () => {
    const { rows, lineOf } = await readFftFile(csv('date,service_code,rating,comment\n2026-11-02,RR813-W07,1,"One.\nTwo."\n\n2026-11-03,RR813-W07,,"Three"\n'));
    expect(rows).toEqual([
      { record: 1, date: '2026-11-02', serviceCode: 'RR813-W07', rating: 1, comment: 'One.\nTwo.' },
      { record: 2, date: '2026-11-03', serviceCode: 'RR813-W07', rating: null, comment: 'Three' },
    ]);
    expect(rows.map((r) => lineOf(r.record))).toEqual([2, 5]);
  });

  it('takes the header in any case and spacing, and names the columns it lacks', async () => {
    const { rows } = await readFftFile(csv('Date, Service Code ,RATING,Comments\n2026-11-02,rr813-w07,2,"Fine"\n'));
    expect(rows).toEqual([{ record: 1, date: '2026-11-02', serviceCode: 'RR813-W07', rating: 2, comment: 'Fine' }]);
    await expect(readFftFile(csv('when,service_code,rating\n2026-11-02,RR813-W07,2\n'))).rejects.toThrow(/header must name date, service_code, rating and comment; missing date, comment$/);
  });
});
