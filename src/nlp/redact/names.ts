// People's names: a first-name and surname lexicon (data/) plus context cues. A capitalised word
// is only a name when the lexicon is sure of it (Sarah, Patel) or a cue says so (Dr ..., "my son
// ...", "a nurse called ...", "... on reception"). Words that are also ordinary words (Will, Hope,
// Grace), places and the names inside hospital names (St James's, Queen Elizabeth) need a cue.
import { allMatches } from '../regex.ts';
import type { Candidate } from './types.ts';
import { isClearFirstName, isClearSurname, isFirstName, isPlace, isSurname } from './lexicon.ts';

interface Token {
  start: number;
  end: number;
  word: string;
  lower: string;
  cap: boolean;
  upper: boolean;
  sentStart: boolean;
  protected: boolean;
}

const words = (s: string): Set<string> => new Set(s.split(/\s+/).filter(Boolean));

/** Never a name, whatever the cue: days, months, care words, jobs, institutions, relations. */
const HARD_STOP = words(`
monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri sat sun
january february march july september october november december jan feb mar apr jun jul aug sep sept oct nov dec
nhs gp gps a&e ae ed icu itu hdu ccu amu mau sdec cdu ent ot pals cqc ambulance paramedic paramedics police security
mr mrs ms miss mx dr prof sr master madam sir
nurse nurses doctor doctors sister matron midwife midwives consultant consultants surgeon surgeons registrar
physio physiotherapist receptionist receptionists porter porters cleaner cleaners hca hcas staff team teams manager
pharmacist pharmacy chemist therapist therapists practitioner practitioners student students carer carers
specialist specialists lead leads assistant assistants associate associates advisor adviser advisors advisers educator
coordinator co-ordinator navigator prescriber endoscopist sonographer radiographer technician technicians
support worker workers officer officers director directors executive chief head visitor visitors liaison advice
service services office admin administrator secretary secretaries clerk clerks volunteer volunteers
hospital hospitals infirmary clinic clinics ward wards unit units centre center department dept surgery practice
trust reception desk switchboard triage theatre theatres recovery outpatients inpatients maternity radiology
xray x-ray scan mri ct ecg bloods covid covid-19 corona coronavirus god jesus christ lord allah
mum mom mam mummy dad daddy mother father husband wife son daughter brother partner grandad grandma nan nanna
granny grandpa grandmother grandfather aunt auntie uncle niece nephew baby
mums moms mams dads mummys daddys husbands wives sons daughters brothers sisters partners babies
cpn cpns hv ocd adhd ptsd emdr cbt dbt mh camhs iapt lgh ggh bgh ugh lol
boots tesco asda lloyds superdrug specsavers morrisons sainsburys macmillan samaritans
parkinson parkinsons alzheimer alzheimers crohn crohns asperger aspergers addison addisons hodgkin hodgkins
graves cushing cushings huntington huntingtons tourette tourettes raynaud raynauds paget pagets
`);

/** Ordinary words that are often capitalised (sentence starts, greetings): a cue alone does not
 * make them names, only the lexicon can. */
const COMMON = words(`
a an the and or but if so as at by for from in into of off on onto out over to up with without about above after
again against all also always am any are around away back be because been before being below between both can
could did do does doing done down during each either else even ever every few first further had has have having he
her here hers herself him himself his how however i im i'm its it's itself just last least less let like little
lot lots many may me might mine more most much must my myself never next no nobody none nor not nothing now once
one only other others our ours ourselves own please quite rather really same she should since some somebody someone
something sometimes soon still such than thank thanks that the their theirs them themselves then there these they
this those though through thus today together tomorrow too under until upon us very was we well were what whatever
when where whether which while who whom whose why will with would yes yet you your yours yourself yourselves
excellent great good brilliant amazing lovely fantastic wonderful superb outstanding fab fabulous kind caring
friendly helpful polite rude nice poor bad terrible awful dreadful disgusting shocking appalling professional
everyone everybody anyone anybody everything anything all both none lady ladies gentleman gentlemen man men woman
women girl girls boy boys guy guys chap lad lads lass bloke fella person people patient patients family families
visitor visitors relative relatives friend friends colleague colleagues child children kids
hello hi dear cheers sorry ok okay yes no well done again also overall generally perhaps maybe sadly unfortunately
luckily hopefully honestly really definitely absolutely otherwise however although
service services care treatment appointment appointments support help food parking waiting wait time times
staff's nurses' doctors' all's
new old big small long short high low young early late better best worse worst
is isn't it it's go going get got getting see seeing saw seen make made making take took taken give gave given
keep kept tell told ask asked call called ring rang feel felt think thought know knew want wanted need needed
employ try tried use used find found put come came leave left stay stayed speak spoke listen listened
great staff's more less lack quick quicker faster slower sooner later earlier clean cleaner dirty busy quiet
hospital's doctor's nurse's everyone's
very extremely really so too quite fairly pretty bit little lot
`);

/** Words that, inside a run of capitalised words, make the run a place or institution name. */
const INSTITUTION = words(`
hospital hospitals infirmary ward wing unit centre center clinic clinics surgery practice trust foundation hospice
suite building house lodge health healthcare medical medicine services service nhs university college school
academy church chapel station airport hotel library department dept team pharmacy institute council royal general
district community county city memorial maternity mental cancer eye dental heart hall campus site block floor level
tower pavilion annexe nursing home homes road street lane avenue way drive close crescent place square gardens park
st saint queen king prince princess lady mount sir nightingale seacole curie macmillan ambulance road airport
partnership group network alliance hub village town estate court ccg icb ics pcn
`);

const RUN_CONNECTORS = words('of upon on the and-the');

const TITLE_RE =
  /(?<![\p{L}])(Mr|mr|Mrs|mrs|Ms|ms|Miss|Mx|Dr|dr|Doctor|doctor|Prof|prof|Professor|professor|Nurse|nurse|Sister|Sr|Matron|matron|Midwife|midwife|Physio|physio|Paramedic|paramedic|Receptionist|receptionist|Pharmacist|pharmacist|Consultant)\b(?:(?<=Mr|mr|Mrs|mrs|Ms|ms|Mx|Dr|dr|Prof|prof|Sr)\.)?[ \t]+((?:[A-Z](?:\.[ \t]*|[ \t]+)){0,2})(?=\p{L})/gu;

const TITLE_REPLACEMENT: Record<string, { replacement: string; role: 'staff' | 'person'; firstNameTitle: boolean }> = {
  mr: { replacement: '[name]', role: 'person', firstNameTitle: false },
  mrs: { replacement: '[name]', role: 'person', firstNameTitle: false },
  ms: { replacement: '[name]', role: 'person', firstNameTitle: false },
  miss: { replacement: '[name]', role: 'person', firstNameTitle: false },
  mx: { replacement: '[name]', role: 'person', firstNameTitle: false },
  dr: { replacement: '[the doctor]', role: 'staff', firstNameTitle: false },
  doctor: { replacement: '[the doctor]', role: 'staff', firstNameTitle: false },
  prof: { replacement: '[the consultant]', role: 'staff', firstNameTitle: false },
  professor: { replacement: '[the consultant]', role: 'staff', firstNameTitle: false },
  consultant: { replacement: '[the consultant]', role: 'staff', firstNameTitle: false },
  nurse: { replacement: '[the nurse]', role: 'staff', firstNameTitle: true },
  sister: { replacement: '[the nurse]', role: 'staff', firstNameTitle: true },
  sr: { replacement: '[the nurse]', role: 'staff', firstNameTitle: true },
  matron: { replacement: '[the matron]', role: 'staff', firstNameTitle: true },
  midwife: { replacement: '[the midwife]', role: 'staff', firstNameTitle: true },
  physio: { replacement: '[the physiotherapist]', role: 'staff', firstNameTitle: true },
  paramedic: { replacement: '[the paramedic]', role: 'staff', firstNameTitle: true },
  receptionist: { replacement: '[the receptionist]', role: 'staff', firstNameTitle: true },
  pharmacist: { replacement: '[the pharmacist]', role: 'staff', firstNameTitle: true },
};

const RELATION =
  '(?:husband|hubby|wife|son|daughter|mum|mom|mother|mam|mammy|mummy|dad|father|daddy|partner|brother|sister|' +
  'grandson|granddaughter|grandchild|nan|nana|nanna|gran|granny|grandma|grandmother|grandad|granddad|grandpa|' +
  'grandfather|aunt|auntie|aunty|uncle|niece|nephew|cousin|friend|neighbour|neighbor|baby|boy|girl|child|kid|' +
  'toddler|carer|fianc[eé]e?|boyfriend|girlfriend|stepson|stepdaughter|stepmum|stepdad|twins?|relative|' +
  '(?:mother|father|sister|brother|son|daughter)-in-law|little one|patient|client|colleague|wee one)';
const RELATION_BEFORE = new RegExp(
  `\\b(?:my|our|his|her|their|your)\\s+(?:(?:late|dear|lovely|beloved|elderly|disabled|little|baby|newborn|eldest|oldest|youngest|younger|older|big|twin|adult|teenage|poorly|vulnerable|autistic|\\d+|\\w+)[- ](?:year[- ]old\\s+|yr[- ]old\\s+)?)?(?:step-?|grand-?|great-?)?${RELATION}\\s*,?\\s*\\(?(?:(?:called|named|who is called)\\s+)?(?=\\p{L})`,
  'giu',
);
const RELATION_AFTER = new RegExp(`^\\s*,?\\s*\\(?(?:my|our|his|her|their)\\s+(?:late\\s+)?(?:step-?|grand-?)?${RELATION}\\b`, 'iu');

const NAMED_RE =
  /\b(?:called|named|name\s+(?:is|was|being)|name's|names\s+(?:are|were)|known\s+as|goes\s+by|introduced\s+(?:himself|herself|themselves)\s+as|signed\s+by|by\s+the\s+name\s+of)\s*:?\s*["'“‘]?(?=\p{L})/giu;
const GREETING_RE =
  /\b(?:thank(?:\s*-?\s*you|\s+u|u)?(?:\s+(?:so|very)\s+much)?(?:\s+to)?|thanks(?:\s+(?:so|very)\s+much)?(?:\s+to)?|many\s+thanks\s+to|dear|hi|hello|cheers|well\s+done|kudos\s+to|shout\s*-?\s*out\s+to|special\s+mention\s+(?:to|for)|praise\s+(?:to|for)|grateful\s+to|indebted\s+to|credit\s+to)\s*,?\s*(?=\p{Lu})/giu;

const STAFF_WORD =
  '(?:nurse|doctor|receptionist|midwife|physio|physiotherapist|paramedic|consultant|surgeon|porter|cleaner|hca|' +
  'health\\s*care\\s+assistant|care\\s+assistant|support\\s+worker|student(?:\\s+nurse)?|registrar|sister|matron|' +
  'pharmacist|therapist|ot|anaesthetist|radiographer|sonographer|phlebotomist|gp|technician|manager|volunteer|' +
  'dietitian|psychologist|psychiatrist|counsellor|social\\s+worker|dentist|optician|practitioner|ward\\s+clerk|' +
  'clerk|secretary|chaplain|assistant|houseman|junior\\s+doctor|staff\\s+nurse|charge\\s+nurse|ward\\s+manager|' +
  'health\\s+visitor|care\\s+coordinator|key\\s*worker|caseworker|case\\s+worker|lead|specialist|worker|hcp|ap|anp|ccp|emt)';
const STAFF_AFTER = new RegExp(
  `^(?:\\s+(?:on|at|from|in|on\\s+the|at\\s+the|in\\s+the|from\\s+the)\\s+(?:reception|front\\s+desk|desk|switchboard|pharmacy|triage|phones?|admissions)\\b` +
    `|\\s*,?\\s+(?:the|our|my|a|one\\s+of\\s+the|his|her)\\s+(?:[\\w-]+\\s+){0,2}${STAFF_WORD}s?\\b` +
    `|\\s+(?:was|is|were|has\\s+been)\\s+(?:my|our|the|a|his|her|their)\\s+(?:[\\w-]+\\s+){0,2}${STAFF_WORD}\\b` +
    `|\\s*\\(\\s*(?:the\\s+)?(?:[\\w-]+\\s+){0,2}${STAFF_WORD}\\s*\\))`,
  'iu',
);
const STAFF_BEFORE = new RegExp(`\\b${STAFF_WORD}s?\\b[^.!?]{0,25}$`, 'iu');
const EPONYM_AFTER = /^['’]?s?\s+(?:disease|syndrome|palsy|sarcoma|lymphoma|disorder|phenomenon|test|sign|law)\b/i;

const MONTHS_AS_NAMES = words('april may june august');
const PERSON_VERB_AFTER =
  /^\s+(?:is|was|has|had|rang|phoned|called|came|visited|explained|said|told|asked|helped|listened|looked|made|gave|took|went|did|does|sorted|arranged|stayed|brought|showed|spoke|talked|checked|treated|cared|kept|always|never|really|also|and\s+(?:her|his)\s+team)\b/i;

const TOKEN_RE = /\p{L}[\p{L}\p{M}'’-]*/gu;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const m of allMatches(TOKEN_RE, text)) {
    const start = m.index ?? 0;
    let word = m[0];
    // possessives and trailing apostrophes/hyphens are not part of the name
    word = word.replace(/(?:['’]s|['’-]+)$/u, '');
    if (!word) continue;
    const first = word[0] ?? '';
    const upper = word.length > 1 && word === word.toUpperCase() && word !== word.toLowerCase();
    const cap = !upper && first !== first.toLowerCase();
    let j = start - 1;
    while (j >= 0 && /[\s"'“‘([*•-]/.test(text[j] ?? '')) {
      if (text[j] === '\n') break;
      j--;
    }
    const prev = j >= 0 ? (text[j] ?? '') : '';
    const sentStart = j < 0 || /[.!?\n:;…]/.test(prev);
    out.push({
      start,
      end: start + word.length,
      word,
      lower: word.toLowerCase().replace(/’/g, "'"),
      cap,
      upper,
      sentStart,
      protected: false,
    });
  }
  return out;
}

function gapIsSpace(text: string, a: Token, b: Token): boolean {
  const gap = text.slice(a.end, b.start);
  return /^[ \t]{1,2}$/.test(gap) || gap === '-' || /^['’]s[ \t]$/.test(gap);
}

/** Capitalised runs containing an institution word (Leeds General Infirmary, St James's,
 * Queen Elizabeth Hospital, Florence Nightingale Ward) are places, not people. */
function markProtected(text: string, toks: Token[]): void {
  let i = 0;
  while (i < toks.length) {
    const t = toks[i];
    if (!t || !(t.cap || t.upper)) {
      i++;
      continue;
    }
    let j = i;
    let hit = INSTITUTION.has(t.lower);
    while (j + 1 < toks.length) {
      const a = toks[j];
      const b = toks[j + 1];
      if (!a || !b || !gapIsSpace(text, a, b)) break;
      if (b.cap || b.upper) {
        j++;
        if (INSTITUTION.has(b.lower)) {
          // "Ward 7" ends the run at the ward: a name before it still counts as a person only
          // when the ward word is followed by a number ("Sarah Ward 7" is rare; protect anyway)
          hit = true;
        }
        continue;
      }
      const c = toks[j + 2];
      if (RUN_CONNECTORS.has(b.lower) && c && (c.cap || c.upper) && gapIsSpace(text, b, c)) {
        j += 2;
        if (INSTITUTION.has(c.lower)) hit = true;
        continue;
      }
      break;
    }
    // a ward/unit word directly after a run also makes it a place ("Nightingale ward")
    const after = toks[j + 1];
    const last = toks[j];
    if (after && last && gapIsSpace(text, last, after) && /^(?:ward|wing|unit|hospital|infirmary|house|centre|clinic|suite|surgery|practice)$/.test(after.lower)) hit = true;
    if (hit) for (let k = i; k <= j; k++) (toks[k] as Token).protected = true;
    i = j + 1;
  }
}

function isPlaceholder(t: Token): boolean {
  return /^x+$/i.test(t.word) || t.word.length < 2;
}

const WORD_SHAPE = /(?:ing|ed|ly|tion|sion|ness|ment|ful|less|ous|ive|able|ible|ity|ence|ance|ism|ist)$/i;
const CONTRACTION = /['’](?:ve|d|ll|m|re|t)$/i;

/** An unknown capitalised word that looks like an ordinary word rather than a name. */
function looksLikeWord(t: Token): boolean {
  return COMMON.has(t.lower) || isPlace(t.word) || WORD_SHAPE.test(t.word) || CONTRACTION.test(t.word);
}

/** Can this token be a name given a strong cue (title, "called", "my son")? */
function nameUnderStrongCue(t: Token, text: string, afterTitle = false): boolean {
  if (isPlaceholder(t) || HARD_STOP.has(t.lower)) return false;
  if (t.lower === 'ward' && /^\s*\d/.test(text.slice(t.end, t.end + 3))) return false;
  if (t.cap) {
    if (isFirstName(t.word) || isSurname(t.word)) return true;
    return !COMMON.has(t.lower) && !isPlace(t.word) && !CONTRACTION.test(t.word) && !(t.sentStart && WORD_SHAPE.test(t.word));
  }
  if (t.upper) return false;
  // lower case after a cue: only first names the lexicon is sure of ("my husband john")
  if (afterTitle && isClearSurname(t.word)) return true; // "dr patel", "mrs khan"
  return isClearFirstName(t.word) && !WORD_SHAPE.test(t.word);
}

/** With a weaker cue ("... on reception", "... the nurse"), or next to a known name in a list. */
function nameUnderWeakCue(t: Token): boolean {
  if (!t.cap || isPlaceholder(t) || HARD_STOP.has(t.lower) || t.protected) return false;
  if (isFirstName(t.word) || isSurname(t.word)) return true;
  // at the start of a sentence an unknown capitalised word is more likely an ordinary word
  return !t.sentStart && !looksLikeWord(t);
}

interface NameMark {
  role: 'staff' | 'person' | 'unknown';
  title?: { start: number; key: string };
}

export function findNames(text: string, out: Candidate[]): void {
  // quick exit: no letters worth looking at
  if (!/\p{L}/u.test(text)) return;
  const toks = tokenize(text);
  if (toks.length === 0) return;
  markProtected(text, toks);
  const byStart = new Map<number, number>();
  toks.forEach((t, i) => byStart.set(t.start, i));
  const r: NameReading = { text, toks, byStart, marks: new Map() };
  markAfterTitles(r);
  markAfterCues(r);
  markByLexicon(r);
  if (r.marks.size === 0) return;
  spreadMarks(r);
  joinMarks(r, out);
}

// findNames reads a text in steps, each a function of its own: one function holding them all was
// so large that compiling it optimised took 120-300 ms each time, in every thread that analyses.

/** What the steps of findNames share: the text, its tokens, where each starts, and the names marked. */
interface NameReading {
  text: string;
  toks: Token[];
  byStart: Map<number, number>;
  marks: Map<number, NameMark>;
}

/** Marks token i, unless it is marked already with as much (a known role, a title). */
function mark(r: NameReading, i: number, m: NameMark): void {
  const prev = r.marks.get(i);
  if (!prev || (prev.role === 'unknown' && m.role !== 'unknown') || (!prev.title && m.title)) r.marks.set(i, m);
}

/** The token starting at pos, past spaces, quotes and an opening bracket. */
function tokenAt(r: NameReading, pos: number): number | undefined {
  const { text } = r;
  let p = pos;
  while (p < text.length && /[\s"'“‘(]/.test(text[p] ?? '')) p++;
  return r.byStart.get(p);
}

/** 1. titles: Dr Ahmed, Mrs Patel, Nurse Jones, Sister O'Neill, Dr. J. Smith */
function markAfterTitles(r: NameReading): void {
  const { text, toks } = r;
  for (const m of allMatches(TITLE_RE, text)) {
    const titleWord = m[1] ?? '';
    const key = titleWord.toLowerCase();
    const info = TITLE_REPLACEMENT[key];
    if (!info) continue;
    const start = m.index ?? 0;
    const i = r.byStart.get(start + m[0].length);
    if (i === undefined) continue;
    const t = toks[i] as Token;
    // "my sister Jane" is a relation, not the job title
    if (key === 'sister' && /\b(?:my|his|her|our|their|your|a|big|little|twin|older|younger|half|step)\s+$/i.test(text.slice(Math.max(0, start - 12), start))) continue;
    const hasInitials = (m[2] ?? '').trim().length > 0;
    if (!nameUnderStrongCue(t, text, true) && !(hasInitials && t.cap)) continue;
    if (t.protected && !(isSurname(t.word) || isFirstName(t.word))) continue;
    // "Dr Smith" keeps role staff; include "Staff Nurse" / "Ward Sister" before the title
    let titleStart = start;
    const pre = /(?:Staff|Charge|Ward|Senior|Student|Specialist|Deputy)\s+$/.exec(text.slice(Math.max(0, start - 12), start));
    if (pre && (key === 'nurse' || key === 'sister')) titleStart = start - pre[0].length;
    mark(r, i, { role: info.role, title: { start: titleStart, key } });
    const next = toks[i + 1];
    if (next && next.cap && gapIsSpace(text, t, next) && !next.sentStart && nameUnderStrongCue(next, text) && !next.protected) {
      mark(r, i + 1, { role: info.role });
    }
  }
}

/** 2-4. relations ("my husband John"), naming ("called X"), greetings and thanks ("Thank you Sarah"). */
function markAfterCues(r: NameReading): void {
  const { text, toks } = r;
  // 2. relations: "my husband John", "our son, Oliver,", "my mum (Rose)"
  for (const m of allMatches(RELATION_BEFORE, text)) {
    const i = tokenAt(r, (m.index ?? 0) + m[0].length);
    if (i === undefined) continue;
    const t = toks[i] as Token;
    if (!nameUnderStrongCue(t, text) || t.protected) continue;
    if (!t.cap && !/^\s*,?\s*$/.test(text.slice((m.index ?? 0) + m[0].length - 1, t.start))) continue;
    // "my son Will be ..." is fine, "my husband will" is lower case and ambiguous: skipped above
    mark(r, i, { role: 'person' });
  }

  // 3. "called X", "named X", "her name was X"
  for (const m of allMatches(NAMED_RE, text)) {
    const pos = (m.index ?? 0) + m[0].length;
    const i = tokenAt(r, pos);
    if (i === undefined) continue;
    const t = toks[i] as Token;
    if (!nameUnderStrongCue(t, text) || t.protected) continue;
    const before = text.slice(Math.max(0, (m.index ?? 0) - 40), m.index ?? 0);
    mark(r, i, { role: STAFF_BEFORE.test(before) ? 'staff' : 'unknown' });
  }

  // 4. greetings and thanks: "Thank you Sarah", "Dear Dr Smith" (title handled above)
  for (const m of allMatches(GREETING_RE, text)) {
    const i = tokenAt(r, (m.index ?? 0) + m[0].length);
    if (i === undefined) continue;
    const t = toks[i] as Token;
    if (!t.cap || t.protected || !nameUnderStrongCue(t, text)) continue;
    mark(r, i, { role: 'staff' });
  }
}

/** 5. per token: weak staff cues after the name, and the lexicon */
function markByLexicon(r: NameReading): void {
  const { text, toks } = r;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i] as Token;
    if (!t.cap || t.protected || isPlaceholder(t)) continue;
    if (EPONYM_AFTER.test(text.slice(t.end, t.end + 14))) continue;
    const after = text.slice(t.end, t.end + 60);
    if (STAFF_AFTER.test(after) && nameUnderWeakCue(t)) {
      mark(r, i, { role: 'staff' });
      continue;
    }
    if (RELATION_AFTER.test(after) && nameUnderWeakCue(t) && (isFirstName(t.word) || !t.sentStart)) {
      mark(r, i, { role: 'person' });
      continue;
    }
    if (HARD_STOP.has(t.lower)) continue;
    if (isClearFirstName(t.word) || isClearSurname(t.word)) {
      mark(r, i, { role: 'unknown' });
      continue;
    }
    // an ambiguous first name mid-sentence doing something: "when Amber rang me", "- Jack is brill"
    if (!t.sentStart && isFirstName(t.word) && !MONTHS_AS_NAMES.has(t.lower) && PERSON_VERB_AFTER.test(after)) {
      mark(r, i, { role: 'unknown' });
      continue;
    }
    // an ambiguous first name or an unknown word followed by a surname: "Grace Brown", "Kwabena Smith"
    const next = toks[i + 1];
    if (next && next.cap && gapIsSpace(text, t, next) && !next.protected && isSurname(next.word) && !HARD_STOP.has(next.lower)) {
      const firstOk = isFirstName(t.word) || (!t.sentStart && !COMMON.has(t.lower) && !isPlace(t.word));
      if (firstOk && (isClearSurname(next.word) || isFirstName(t.word))) {
        mark(r, i, { role: 'unknown' });
        mark(r, i + 1, { role: 'unknown' });
      }
    }
  }
}

/** 6. spread along lists and into surnames: "Sarah, Becky and Tom", "Sarah Okafor" */
function spreadMarks(r: NameReading): void {
  const { text, toks, marks } = r;
  for (let pass = 0; pass < 3; pass++) {
    let changed = false;
    for (const [i, m] of [...marks.entries()]) {
      const t = toks[i] as Token;
      const next = toks[i + 1];
      if (next && !marks.has(i + 1) && next.cap && !next.protected && !next.sentStart && gapIsSpace(text, t, next)) {
        // surname after a first name
        if (nameUnderWeakCue(next) && (isSurname(next.word) || isFirstName(next.word) || !COMMON.has(next.lower))) {
          if (!EPONYM_AFTER.test(text.slice(next.end, next.end + 14))) {
            marks.set(i + 1, { role: m.role });
            changed = true;
            continue;
          }
        }
      }
      for (const j of [i - 2, i - 1, i + 1, i + 2]) {
        const o = toks[j];
        if (!o || marks.has(j)) continue;
        const [a, b] = j < i ? [o, t] : [t, o];
        let gap = text.slice(a.end, b.start);
        if (Math.abs(j - i) === 2) {
          const mid = toks[(i + j) / 2] as Token;
          if (mid.lower !== 'and' && mid.lower !== 'or') continue;
          gap = text.slice(a.end, mid.start) + '&' + text.slice(mid.end, b.start);
        }
        if (!/^\s*,?\s*[,&/]?\s*$/.test(gap) || !/[,&/]/.test(gap)) continue;
        if (o.sentStart && !(isFirstName(o.word) || isSurname(o.word))) continue;
        if (!nameUnderWeakCue(o)) continue;
        // an unknown word in a list needs a known name on its side
        if (!(isFirstName(o.word) || isSurname(o.word)) && !(isFirstName(t.word) || m.role !== 'unknown')) continue;
        marks.set(j, { role: m.role });
        changed = true;
      }
    }
    if (!changed) break;
  }
}

/** 7. join neighbouring name tokens into spans */
function joinMarks(r: NameReading, out: Candidate[]): void {
  const { text, toks, marks } = r;
  const idx = [...marks.keys()].sort((a, b) => a - b);
  let k = 0;
  while (k < idx.length) {
    const first = idx[k] as number;
    let last = first;
    while (k + 1 < idx.length && idx[k + 1] === last + 1 && gapIsSpace(text, toks[last] as Token, toks[last + 1] as Token) && !marks.get(last + 1)?.title) {
      k++;
      last = idx[k] as number;
    }
    k++;
    const m0 = marks.get(first) as NameMark;
    const startTok = toks[first] as Token;
    const endTok = toks[last] as Token;
    let role = m0.role;
    for (let x = first; x <= last; x++) {
      const r = marks.get(x)?.role;
      if (r === 'person') role = 'person';
      else if (r === 'staff' && role === 'unknown') role = 'staff';
    }
    const single = first === last;
    if (m0.title) {
      const info = TITLE_REPLACEMENT[m0.title.key];
      if (!info) continue;
      out.push({
        type: 'name',
        start: m0.title.start,
        end: endTok.end,
        replacement: info.replacement,
        priority: 40,
        role: info.role === 'person' ? 'person' : role,
        firstNameOnly: single && info.firstNameTitle && isFirstName(startTok.word),
      });
    } else {
      out.push({
        type: 'name',
        start: startTok.start,
        end: endTok.end,
        replacement: '[name]',
        priority: 40,
        role,
        firstNameOnly: single && (isFirstName(startTok.word) || (role === 'staff' && !isSurname(startTok.word))),
      });
    }
  }
}
