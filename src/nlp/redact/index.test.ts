import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyRedactions, findIdentifyingDetails, isValidNhsNumber, redact, redactFile } from './index.ts';
import type { FindingType } from './index.ts';

const found = (text: string, opts?: { staffNamesAllowed?: boolean }): Array<[FindingType, string]> =>
  findIdentifyingDetails(text, opts).map((f) => [f.type, f.text]);

describe('NHS numbers', () => {
  it('checks the modulus-11 check digit', () => {
    expect(isValidNhsNumber('9434765919')).toBe(true);
    expect(isValidNhsNumber('9434765918')).toBe(false);
    expect(isValidNhsNumber('123')).toBe(false);
  });
  it.each(['943 476 5919', '9434765919', '943-476-5919'])('finds %s in any spacing', (n) => {
    expect(found(`my number is ${n} thanks`)).toEqual([['nhs_number', n]]);
  });
  it('leaves an unlabelled 10-digit number that fails the check', () => {
    expect(found('order reference 1234567890 was lost')).toEqual([]);
  });
  it('removes a labelled NHS number even when the check fails', () => {
    expect(found('NHS number: 123 456 7890')).toEqual([['nhs_number', '123 456 7890']]);
  });
});

describe('phone numbers', () => {
  it.each([
    '07700 900123',
    '+44 7700 900123',
    '(0113) 496 0000',
    '0113 496 0000',
    '020 7946 0958',
    '0800 123 4567',
    '01632 960 001',
    '07700900123',
    '+44 (0)20 7946 0958',
    '0113-496-0000',
  ])('finds %s', (n) => {
    expect(found(`Ring me on ${n}. Thanks`)).toEqual([['phone', n]]);
  });
  it('does not take a following small number into the phone number', () => {
    expect(found('call 07700 900123 2 times')).toEqual([['phone', '07700 900123']]);
  });
  it('ignores short numbers and dates', () => {
    expect(found('ring 111 or 999, or 01.02.23 notes')).toEqual([['date', '01.02.23']]);
  });
});

describe('emails, links and postcodes', () => {
  it('finds emails and links', () => {
    expect(found('mail a.b+c@example.co.uk or see https://example.com/x.')).toEqual([
      ['email', 'a.b+c@example.co.uk'],
      ['url', 'https://example.com/x'],
    ]);
  });
  it.each(['LS1 3EX', 'SW1A 1AA', 'm1 1ae', 'EC1A 1BB', 'CR0 2YR'])('finds postcode %s', (pc) => {
    expect(found(`we live at ${pc} now`)).toEqual([['postcode', pc]]);
  });
  it('does not read ordinals or ward codes as postcodes', () => {
    expect(found('on the 1st floor, Ward 7, bay 3, F21 and C25')).toEqual([]);
  });
});

describe('dates, dates of birth and times', () => {
  it.each(['12/03/2023', '12 March 2023', 'March 12th', '3rd of May', '2023-03-12', 'Tuesday 4th', '5 Jan 2022'])('finds the date %s', (d) => {
    expect(found(`It happened on ${d} and again later`)).toEqual([['date', d]]);
  });
  it('marks a date after "DOB" or "born" as a date of birth', () => {
    expect(found('DOB: 03.11.1948, born on 4th June 1939')).toEqual([
      ['date_of_birth', '03.11.1948'],
      ['date_of_birth', '4th June 1939'],
    ]);
  });
  it.each(['10:30', '3pm', '3.30pm', '10 p.m.', 'half past three'])('finds the time %s', (t) => {
    expect(found(`We were seen at ${t} in the end`)).toEqual([['time', t]]);
  });
  it('finds a dot time at the end of a sentence, but not in a version or a list of numbers', () => {
    expect(found('My appointment was at 08.30. I was late.')).toEqual([['time', '08.30']]);
    expect(found('We were told at 10.15, then again later')).toEqual([['time', '10.15']]);
    expect(found('the app said at 1.5.2 it was fixed')).toEqual([]);
  });
  it('keeps months alone, days alone, 24/7 and scores', () => {
    expect(found('In March, on a Monday, the 24/7 line was great, 9 out of 10, 10/10, 2 weeks, 4 hours')).toEqual([]);
  });
  it('keeps "the 4th floor" but removes "on the 4th"', () => {
    expect(found('we went to the 4th floor')).toEqual([]);
    expect(found('we were told on the 4th that')).toEqual([['date', 'the 4th']]);
  });
});

describe('addresses', () => {
  it.each(['12 Acacia Avenue', 'Flat 3, 45 High Street', '14 Park Road, Leeds'])('finds %s', (a) => {
    expect(found(`I live at ${a} and the ambulance got lost`)).toEqual([['address', a]]);
  });
  it('keeps ward, room and bay numbers', () => {
    expect(found('Room 12 on Ward 7, bay 3, level 2 near the Park')).toEqual([]);
  });
});

describe('names', () => {
  it.each([
    ['my husband John was scared', 'John'],
    ['Mrs Patel was in the next bed', 'Mrs Patel'],
    ['I saw Dr Ahmed today', 'Dr Ahmed'],
    ['a nurse called Sarah helped', 'Sarah'],
    ['Sarah on reception was kind', 'Sarah'],
    ['her name was Becky and she was kind', 'Becky'],
    ['my son, Oliver, was brave', 'Oliver'],
    ['my daughter Grace had surgery', 'Grace'],
    ['a carer called Agnieszka came', 'Agnieszka'],
    ['the surgeon Mr Fitzgerald-Hughes came', 'Mr Fitzgerald-Hughes'],
  ])('finds the name in "%s"', (text, name) => {
    expect(found(text)).toEqual([['name', name]]);
  });
  it('finds every name in a list', () => {
    expect(found('Thanks to Jo, Kerry, Dave and Grace').map(([, t]) => t)).toEqual(['Jo', 'Kerry', 'Dave', 'Grace']);
  });
  it('replaces a titled staff name with the job title', () => {
    expect(redact('Dr Smith and Nurse Jones were rude').text).toBe('[the doctor] and [the nurse] were rude');
    expect(redact('My husband John saw Mrs Patel').text).toBe('My husband [name] saw [name]');
  });
  it('keeps words that are also names when there is no cue', () => {
    expect(found('Will you call back? May I say thanks. Hope and faith. Grace under pressure.')).toEqual([]);
  });
  it('keeps hospital, place, drug and disease names', () => {
    expect(
      found("Ward 7 at Leeds General Infirmary, St James's, Queen Elizabeth Hospital, Florence Nightingale Ward, Parkinson's disease, Oramorph, Leeds"),
    ).toEqual([]);
  });
  it('keeps placeholders left by earlier anonymisation', () => {
    expect(found('I am grateful to Mr X and Dr XXXX and [Name]')).toEqual([]);
  });
  it('keeps a staff first name in praise when allowed, but not relatives or surnames', () => {
    const text = 'Sarah on reception and Nurse Becky were lovely to my husband John, and Dr Smith too';
    expect(found(text, { staffNamesAllowed: true }).map(([, t]) => t)).toEqual(['John', 'Dr Smith']);
    expect(found(text).map(([, t]) => t)).toEqual(['Sarah', 'Nurse Becky', 'John', 'Dr Smith']);
  });
});

describe('applyRedactions and redact', () => {
  it('leaves a story with nothing identifying exactly as it was', () => {
    const text = 'Waited 4 hours in A&E, £5 for parking, 500mg paracetamol, COVID-19 rules. GP and NHS were great.';
    expect(redact(text)).toEqual({ text, findings: [] });
  });
  it('replaces findings using offsets into the original text, sorted and non-overlapping', () => {
    const text = 'Call 07700 900123 or email a@b.com on 12/03/2023 at 10:30.';
    const r = redact(text);
    expect(r.text).toBe('Call [phone number] or email [email] on [date] at [time].');
    for (const f of r.findings) expect(text.slice(f.start, f.end)).toBe(f.text);
    const starts = r.findings.map((f) => f.start);
    expect([...starts].sort((a, b) => a - b)).toEqual(starts);
    expect(applyRedactions(text, r.findings)).toBe(r.text);
  });
});

describe('redactFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redact-'));
  it('reads and writes JSON lines with offsets into the original text', async () => {
    const input = join(dir, 'in.jsonl');
    const output = join(dir, 'out.jsonl');
    writeFileSync(input, '{"id":"a","text":"Ring 07700 900123"}\n\n{"id":2,"text":"All good"}\n');
    expect(await redactFile({ in: input, out: output })).toEqual({ count: 2 });
    const lines = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
    expect(lines).toEqual([
      { id: 'a', text: 'Ring [phone number]', findings: [{ type: 'phone', start: 5, end: 17 }] },
      { id: 2, text: 'All good', findings: [] },
    ]);
  });
  it('names the line number of a bad line', async () => {
    const input = join(dir, 'bad.jsonl');
    writeFileSync(input, '{"id":"a","text":"ok"}\n{"id":"b","text":\n');
    await expect(redactFile({ in: input, out: join(dir, 'x.jsonl') })).rejects.toThrow(/line 2/);
    writeFileSync(input, '{"id":"a","text":"ok"}\n{"id":"b"}\n');
    await expect(redactFile({ in: input, out: join(dir, 'y.jsonl') })).rejects.toThrow(/line 2: "text"/);
  });
});
