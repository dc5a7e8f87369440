// Finders for the structured identifying details: NHS numbers, phone numbers, emails, links,
// postcodes, dates (and dates of birth), clock times and street addresses. Each returns candidate
// spans; index.ts resolves overlaps by priority.
import { allMatches } from '../regex.ts';
import type { Candidate } from './types.ts';

// ---------------------------------------------------------------------------------------------
// NHS numbers

/** The NHS number modulus-11 check: weights 10..2 on the first nine digits. */
export function isValidNhsNumber(digits: string): boolean {
  if (!/^\d{10}$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  let check = 11 - (sum % 11);
  if (check === 11) check = 0;
  if (check === 10) return false;
  return check === Number(digits[9]);
}

const NHS_LABELLED =
  /\bNHS[\s-]*(?:number|no\b\.?|num\b\.?|#)[\s:#.=-]*(?:(?:is|was|being)\b\s*[:-]?\s*)?(\d(?:[ .-]?\d){7,11})(?![\d])/gi;
const TEN_DIGITS = /(?<![\w+.£$/])\d(?:[ -]?\d){9}(?![\w/])/g;

export function findNhsNumbers(text: string, out: Candidate[]): void {
  for (const m of allMatches(NHS_LABELLED, text)) {
    const num = m[1] ?? '';
    const start = (m.index ?? 0) + m[0].length - num.length;
    out.push({ type: 'nhs_number', start, end: start + num.length, replacement: '[NHS number]', priority: 95 });
  }
  for (const m of allMatches(TEN_DIGITS, text)) {
    const digits = m[0].replace(/\D/g, '');
    // a leading 0 is a phone number's; the labelled form above still catches such NHS numbers
    if (digits.startsWith('0') || !isValidNhsNumber(digits)) continue;
    const start = m.index ?? 0;
    out.push({ type: 'nhs_number', start, end: start + m[0].length, replacement: '[NHS number]', priority: 80 });
  }
}

// ---------------------------------------------------------------------------------------------
// Phone numbers (UK): +44 / 0044 / (0...) / 0..., digit groups separated by one space, hyphen,
// dot or bracket; valid when the national number has 10 or 11 digits.

const PHONE_START = /(?<![\w+£$/.])(?:(?:\+|00)\s?44\s?(?:\(\s?0\s?\)\s?)?(?=\d)|\(\s?(?=0[1-9])|(?=0[1-9]))/g;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

export function findPhones(text: string, out: Candidate[]): void {
  for (const m of allMatches(PHONE_START, text)) {
    const start = m.index ?? 0;
    const intl = m[0].length > 0 && !m[0].startsWith('(');
    let national = intl ? 1 : 0; // the 0 implied by +44
    let openParen = m[0].startsWith('(');
    let pos = start + m[0].length;
    let bestEnd = -1;
    let groups = 0;
    for (;;) {
      const runStart = pos;
      while (pos < text.length && isDigit(text.charCodeAt(pos))) pos++;
      const run = pos - runStart;
      if (run === 0) break;
      national += run;
      groups++;
      if (national > 11) break;
      if ((national === 10 || national === 11) && (run >= 2 || groups === 1)) bestEnd = pos;
      // separators between groups: one of space, hyphen, dot, or a closing bracket and a space
      let sep = 0;
      let p = pos;
      if (text[p] === ')' && openParen) {
        openParen = false;
        p++;
        sep++;
      }
      if (p < text.length && /[ \u00a0.-]/.test(text[p] ?? '')) {
        p++;
        sep++;
      }
      if (sep === 0 || p >= text.length || !isDigit(text.charCodeAt(p))) break;
      pos = p;
    }
    if (bestEnd < 0 || groups > 6) continue;
    // "07700 900123x" or a number glued to letters is not a phone number
    if (/[A-Za-z]/.test(text[bestEnd] ?? '')) continue;
    out.push({ type: 'phone', start, end: bestEnd, replacement: '[phone number]', priority: 85 });
  }
}

// ---------------------------------------------------------------------------------------------
// Emails and links

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'\])]+/gi;

export function findEmailsAndLinks(text: string, out: Candidate[]): void {
  if (text.includes('@')) {
    for (const m of allMatches(EMAIL, text)) {
      const start = m.index ?? 0;
      out.push({ type: 'email', start, end: start + m[0].length, replacement: '[email]', priority: 100 });
    }
  }
  for (const m of allMatches(URL_RE, text)) {
    const start = m.index ?? 0;
    const url = m[0].replace(/[.,;:!?]+$/, '');
    out.push({ type: 'url', start, end: start + url.length, replacement: '[link]', priority: 98 });
  }
}

// ---------------------------------------------------------------------------------------------
// Postcodes: outward code (checked against the UK postcode areas) + inward code.

const POSTCODE_AREAS = new Set(
  (
    'AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY E EC EH EN EX ' +
    'FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE LL LN LS LU M ME MK ML N NE ' +
    'NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO SP SR SS ST SW SY TA TD TF TN TQ ' +
    'TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE'
  ).split(' '),
);
const POSTCODE = /(?<![\w])([A-Za-z]{1,2})(\d[A-Za-z\d]?)[ \u00a0]{0,2}(\d[ABD-HJLNP-UW-Zabd-hjlnp-uw-z]{2})(?![\w])/g;

export function findPostcodes(text: string, out: Candidate[]): void {
  for (const m of allMatches(POSTCODE, text)) {
    const area = (m[1] ?? '').toUpperCase();
    if (!POSTCODE_AREAS.has(area)) continue;
    const inward = m[3] ?? '';
    const whole = m[0];
    // "A1 2nd" and the like: ordinals written in lower case are not inward codes
    if (/^\d(?:st|nd|rd|th)$/.test(inward)) continue;
    if (whole !== whole.toUpperCase() && whole !== whole.toLowerCase()) {
      // mixed case ("Ls1 3ex") is unusual for a postcode unless only the letters' case varies
      if (!/^[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}$/i.test(whole)) continue;
    }
    const start = m.index ?? 0;
    out.push({ type: 'postcode', start, end: start + whole.length, replacement: '[postcode]', priority: 75 });
  }
}

// ---------------------------------------------------------------------------------------------
// Dates and dates of birth

const MONTH_NAMES: Array<[string, string]> = [
  ['January', 'Jan'], ['February', 'Feb'], ['March', 'Mar'], ['April', 'Apr'], ['May', ''], ['June', 'Jun'],
  ['July', 'Jul'], ['August', 'Aug'], ['September', 'Sept?'], ['October', 'Oct'], ['November', 'Nov'], ['December', 'Dec'],
];
const capAlt = (w: string): string => `[${w[0]}${(w[0] ?? '').toLowerCase()}]${w.slice(1)}|${w.toUpperCase()}`;
// full month names (May only capitalised: "may" is a verb), then abbreviations with an optional dot
const MONTH =
  '(?:' +
  MONTH_NAMES.map(([full, abbr]) => (full === 'May' ? 'May|MAY' : capAlt(full)) + (abbr ? `|(?:${capAlt(abbr)})\\.?` : '')).join('|') +
  ')';
const WEEKDAY =
  '(?:[Mm]onday|[Tt]uesday|[Ww]ednesday|[Tt]hursday|[Ff]riday|[Ss]aturday|[Ss]unday|(?:[Mm]on|[Tt]ues?|[Ww]ed|[Tt]hu(?:rs?)?|[Ff]ri|[Ss]at|[Ss]un)\\.?)';
const WEEKDAY_FULL = '(?:[Mm]onday|[Tt]uesday|[Ww]ednesday|[Tt]hursday|[Ff]riday|[Ss]aturday|[Ss]unday)';
const DAYNUM = '(?:[12]\\d|3[01]|0?[1-9])';
const ORD = '(?:st|nd|rd|th|ST|ND|RD|TH)';
const YEAR = "(?:(?:19|20)\\d{2}|'\\d{2})";

const DATE_PATTERNS: RegExp[] = [
  // 12 March 2023, 3rd of May, Tuesday 4th March, the 12th March, 12-Mar-2023
  new RegExp(
    `(?:${WEEKDAY},?\\s+)?(?:the\\s+)?(?<![\\d.£$])${DAYNUM}${ORD}?(?:\\s+of|\\s*-)?\\s*${MONTH}(?![a-z])(?:,?\\s*-?\\s*${YEAR}(?![\\d]|[-/.]\\d))?(?![\\d])`,
    'g',
  ),
  // March 12th, March 12, 2023, Tuesday, March 4th
  new RegExp(`(?:${WEEKDAY},?\\s+)?${MONTH}\\s+(?:the\\s+)?${DAYNUM}${ORD}?(?![\\d%:]|\\s*(?:mg|ml|g|kg|am|pm)\\b)(?:,?\\s+(?:19|20)\\d{2})?`, 'g'),
  // on Tuesday 4th, Tuesday the 4th
  new RegExp(`${WEEKDAY_FULL}\\s+(?:the\\s+)?${DAYNUM}${ORD}\\b`, 'g'),
  // 12/03/2023, 12.03.23, 12-3-2023
  /(?<![\d/.£$:-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.]\d|\d)/g,
  // 2023-03-12, 2023/03/12
  /(?<![\d/.-])((?:19|20)\d{2})([/.-])(\d{1,2})\2(\d{1,2})(?![\d/])/g,
  // on the 4th (only when the ordinal stands for a day: not "the 4th floor")
  new RegExp(
    `(?<=\\b(?:[Oo]n|[Ss]ince|[Uu]ntil|[Tt]ill|[Bb]y|[Bb]efore|[Aa]fter|[Ff]rom)\\s+)the\\s+${DAYNUM}${ORD}\\b(?=\\s*(?:[.,;:!?)]|$|\\s+(?:and|at|when|but|I|we|my|he|she|they|to|for|so|as|which|where|that|then|there|it|our|his|her|you|because|until|till|with|of\\s+(?:this|that|last|next|the)\\s+month)\\b))`,
    'g',
  ),
  // on 12/03 (a day and a month after "on")
  /(?<=\b(?:[Oo]n|[Dd]ated|[Ss]ince|[Uu]ntil)\s+)(\d{1,2})\/(\d{1,2})(?![\d/])/g,
];

function plausibleNumericDate(m: RegExpMatchArray, idx: number): boolean {
  if (idx === 3) {
    const a = Number(m[1]);
    const b = Number(m[3]);
    const sep = m[2];
    const year = m[4] ?? '';
    if (sep === '.' && year.length === 2 && a <= 23 && b <= 59 && !/\.\d{2}\.\d{2}$/.test(m[0])) return false;
    return (a >= 1 && a <= 31 && b >= 1 && b <= 12) || (a >= 1 && a <= 12 && b >= 1 && b <= 31);
  }
  if (idx === 4) {
    const mo = Number(m[3]);
    const d = Number(m[4]);
    return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
  }
  if (idx === 6) {
    if (m[0] === '24/7') return false;
    const a = Number(m[1]);
    const b = Number(m[2]);
    return a >= 1 && a <= 31 && b >= 1 && b <= 12;
  }
  return true;
}

const DOB_CUE = /\b(?:d\.?\s?o\.?\s?b\b\.?|date\s+of\s+birth|birth\s?date|born|birthday|(?<![@\w.])b\.(?=\s))[^.!?\n]{0,24}$/i;
const BORN_YEAR = /\b(?:born|DOB|D\.O\.B\.?|date of birth)\s*(?:in|:|-|was)?\s*((?:19|20)\d{2})\b/gi;

export function findDates(text: string, out: Candidate[]): void {
  const hasDigit = /\d/.test(text);
  if (!hasDigit) return;
  DATE_PATTERNS.forEach((re, idx) => {
    for (const m of allMatches(re, text)) {
      if (!plausibleNumericDate(m, idx)) continue;
      const start = m.index ?? 0;
      let end = start + m[0].length;
      // trailing punctuation of an abbreviated month at the end of a sentence
      while (end > start && /[\s,.-]/.test(text[end - 1] ?? '')) end--;
      const before = text.slice(Math.max(0, start - 40), start);
      const dob = DOB_CUE.test(before);
      out.push({
        type: dob ? 'date_of_birth' : 'date',
        start,
        end,
        replacement: dob ? '[date of birth]' : '[date]',
        priority: dob ? 72 : 60,
      });
    }
  });
  for (const m of allMatches(BORN_YEAR, text)) {
    const y = m[1] ?? '';
    const start = (m.index ?? 0) + m[0].lastIndexOf(y);
    out.push({ type: 'date_of_birth', start, end: start + y.length, replacement: '[date of birth]', priority: 70 });
  }
}

// ---------------------------------------------------------------------------------------------
// Clock times

const AMPM = '(?:[ap]\\.\\s?m\\.?|[ap]m\\b|[AP]\\.\\s?M\\.?|[AP]M\\b)';
const HOUR_WORD = '(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\\d{1,2})';
const TIME_PATTERNS: RegExp[] = [
  // 10:30, 15:45, 10:30am, 2-4:30pm
  new RegExp(`(?<![\\d:.£$/])(?:(?:[01]?\\d|2[0-3])(?:[:.][0-5]\\d)?\\s?(?:-|–|to|until|till)\\s?)?(?:[01]?\\d|2[0-3]):[0-5]\\d(?:\\s?${AMPM})?(?![\\d:])`, 'g'),
  // 3pm, 3 pm, 3.30pm, 10.30 a.m., 2-4pm, 2 to 4pm
  new RegExp(`(?<![\\d.£$:/])(?:(?:1[0-2]|0?[1-9])(?:[.:][0-5]\\d)?\\s?(?:${AMPM}\\s?)?(?:-|–|to|until|till)\\s?)?(?:1[0-2]|0?[1-9])(?:[.:][0-5]\\d)?\\s?${AMPM}`, 'g'),
  // at 3.30, by 10.15 (a dot time needs a cue word before it); "at 08.30." ends a sentence, "at 1.5.2" is no time
  /(?<=\b(?:[Aa]t|[Bb]y|[Aa]round|[Aa]bout|[Aa]pprox\.?|[Uu]ntil|[Tt]ill|[Tt]il|[Ff]rom|[Bb]efore|[Aa]fter|[Bb]etween|[Gg]one|[Pp]ast|[Ee]arliest|[Ll]atest|[Tt]old|[Bb]ooked(?:\s+for)?|[Ss]cheduled(?:\s+for)?|[Aa]ppointment|[Aa]ppt|[Ss]lot|[Ff]or)\s+)(?:[01]?\d|2[0-3])\.[0-5]\d(?![\d%]|\.\d|\s?(?:mg|ml|mcg|g|kg|mmol|units|%|miles|km|cm|mm|m|hours|hrs|minutes|mins|pounds|p)\b)/g,
  // 3 o'clock
  new RegExp(`\\b${HOUR_WORD}\\s?o['’]?\\s?clock\\b`, 'gi'),
  // half past three, quarter to 4
  new RegExp(`\\b(?:half|quarter)\\s+(?:past|to)\\s+${HOUR_WORD}\\b`, 'gi'),
  // 1400hrs, 0930 hrs, at 1400 hours
  /(?<![\d.£$])(?:[01]\d|2[0-3])[0-5]\d\s?(?:hrs|hr|h)\b|(?<=\b[Aa]t\s)(?:[01]\d|2[0-3])[0-5]\d\s?hours\b/g,
];

export function findTimes(text: string, out: Candidate[]): void {
  for (const re of TIME_PATTERNS) {
    for (const m of allMatches(re, text)) {
      const start = m.index ?? 0;
      let end = start + m[0].length;
      while (end > start && /\s/.test(text[end - 1] ?? '')) end--;
      out.push({ type: 'time', start, end, replacement: '[time]', priority: 55 });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Street addresses

const STREET =
  '(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Close|Drive|Dr|Way|Crescent|Cres|Grove|Gardens|Gdns|Place|Pl|Court|Ct|' +
  'Terrace|Terr|Square|Sq|Mews|Row|Hill|Walk|View|Park|Rise|Green|Parade|Vale|Boulevard|Wharf|Fold|Croft|Chase|' +
  'Mount|Villas|Heights|Meadows?|Fields|Gate|Grange|Hollow|Nook|Wynd|Brow|Bank|Mead|Garth|Yard|Approach|' +
  'Circus|Embankment|Quay|Broadway|Cottages|Estate|Walkway|Glade|Dene|Lea|Leys|Side|End|Gardens)';
const STREET_LOWER =
  '(?:street|road|avenue|lane|close|drive|crescent|grove|gardens|terrace|mews|rise|parade|way)';
const CAPWORD = "[A-Z][a-z'’][a-zA-Z'’]*(?:-[A-Z][a-z]+)?";
const FLAT = "(?:(?:[Ff]lat|[Aa]partment|[Aa]pt\\.?|[Uu]nit)\\s+\\d+[A-Za-z]?,?\\s+)";
const TOWN = `(?:,\\s*(?:${CAPWORD})(?:\\s+(?!Hospital|Infirmary|General|Royal)${CAPWORD})?(?![a-z]))`;
const ADDRESS_PATTERNS: RegExp[] = [
  new RegExp(`${FLAT}?(?<![\\w.£$/])\\d{1,4}[A-Za-z]?(?:-\\d{1,4})?,?\\s+(?:${CAPWORD}\\s+){1,3}${STREET}\\b\\.?${TOWN}?`, 'g'),
  new RegExp(`${FLAT}?(?<![\\w.£$/])\\d{1,4}[a-z]?,?\\s+(?:[a-z][a-z'’]+\\s+){1,2}${STREET_LOWER}\\b`, 'g'),
  // lives on Acacia Avenue / address is Acacia Avenue
  new RegExp(
    `(?<=\\b(?:live|lives|lived|living|moved|address|address is|address was|house on|home on|flat on|flat in)\\s+(?:on|at|in|to|is|was)?\\s*)(?:${FLAT})?(?:${CAPWORD}\\s+){1,3}${STREET}\\b${TOWN}?`,
    'g',
  ),
];
const NOT_ADDRESS_BEFORE =
  /\b(?:ward|room|bay|bed|level|floor|clinic|suite|theatre|number|no\.?|aged?|for|every|about|around|over|after|within|than|only|just|at least|took|takes|waited|wait|had|have|has|of)\s*$/i;

export function findAddresses(text: string, out: Candidate[]): void {
  ADDRESS_PATTERNS.forEach((re, idx) => {
    for (const m of allMatches(re, text)) {
      const start = m.index ?? 0;
      const body = m[0];
      if (idx < 2 && !/^(?:flat|apartment|apt|unit)/i.test(body)) {
        const before = text.slice(Math.max(0, start - 20), start);
        if (NOT_ADDRESS_BEFORE.test(before)) continue;
      }
      // "2 Dr Smith": Dr or St followed by a capitalised name is a title, not a street
      const after = text.slice(start + body.length, start + body.length + 3);
      if (/\b(?:Dr|St)\.?$/.test(body) && /^\.?\s?[A-Z]/.test(after)) continue;
      out.push({ type: 'address', start, end: start + body.length, replacement: '[address]', priority: 50 });
    }
  });
}
