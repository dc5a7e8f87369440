// Checking the pseudonym a storyteller signs with ("Grateful daughter", "Leeds patient"): it must
// not identify them. Rejected: email addresses, phone-like digit runs, ages ("John, 54", "aged 54",
// "54yo"), a real first name with a surname ("Sarah Jones", "john smith") and a title with a
// surname ("Mrs Patel"). A first name alone is accepted: on its own it identifies nobody, and the
// moderator still reads every story.
import { isClearFirstName, isClearSurname, isFirstName, isSurname } from '../redact/lexicon.ts';

export type PseudonymCheck = { ok: true } | { ok: false; reason: string };

const MIN = 2;
const MAX = 40;
const EMAIL = /[^\s@]+@[^\s@]+\.[^\s@]+/;
const HANDLE_OR_LINK = /(?:^|\s)@\w|https?:\/\/|www\./i;
const AGE = [
  /\b(?:aged?|age:?)\s*\d{1,3}\b/i,
  /\b\d{1,3}\s*(?:yo|y\/o|y\.o\.?|yrs?|years?(?:\s*old)?|year-old)\b/i,
  /\b\d{1,3}(?:yo|yrs)\b/i,
  /,\s*\d{1,3}\s*$/,
  /\(\s*\d{1,3}\s*\)/,
];
/** Numbers that are part of a place in the service ("Ward 7 patient") are fine. */
const PLACE_NUMBER = /\b(?:ward|bay|room|bed|level|floor|unit|clinic|team|group)\s*\d{1,3}\b/gi;
const TITLE = /\b(?:mr|mrs|ms|miss|mx|dr|prof|sir|dame|lady|lord)\.?\s+([\p{L}'’-]+)/iu;

export function checkPseudonym(p: string): PseudonymCheck {
  const name = p.trim().replace(/\s+/g, ' ');
  if (name.length < MIN) return { ok: false, reason: `Please use at least ${MIN} characters, for example "A grateful patient".` };
  if (name.length > MAX) return { ok: false, reason: `Please keep your pseudonym to ${MAX} characters or fewer.` };
  if (EMAIL.test(name)) return { ok: false, reason: 'Please do not use an email address: your pseudonym is shown to everyone.' };
  if (HANDLE_OR_LINK.test(name)) return { ok: false, reason: 'Please do not use a social media handle or a link: it could identify you.' };
  if (AGE.some((re) => re.test(name))) return { ok: false, reason: 'Please leave out your age: with other details it could identify you.' };
  const digits = name.replace(PLACE_NUMBER, '').replace(/\D/g, '');
  if (digits.length >= 6) return { ok: false, reason: 'Please do not include a phone number or other long number.' };
  // a lone number from 10 to 120 reads as an age ("Dad 45"); "Mum of 3" and years are fine
  if (/\b(?:1[01][0-9]|120|[1-9][0-9])\b/.test(name.replace(PLACE_NUMBER, '').replace(/\b(?:19|20)\d{2}\b/g, ''))) {
    return { ok: false, reason: 'Please leave out numbers that could be your age.' };
  }
  const title = TITLE.exec(name);
  if (title && title[1] && (isSurname(title[1]) || isFirstName(title[1]) || /^\p{Lu}/u.test(title[1]))) {
    return { ok: false, reason: 'Please do not use your real name (a title and surname): choose something like "A grateful patient".' };
  }
  const words = name.split(/[\s,.]+/).filter(Boolean);
  for (let i = 0; i + 1 < words.length; i++) {
    const a = (words[i] ?? '').replace(/['’]s$/, '');
    const b = (words[i + 1] ?? '').replace(/['’]s$/, '');
    // a first name and a surname; at least one of them must not also be an ordinary word
    // ("Will Power" and "Grace Hope" pass, "Sarah Jones" does not)
    if (isFirstName(a) && isSurname(b) && (isClearFirstName(a) || isClearSurname(b))) {
      return { ok: false, reason: 'Please do not use your full name: a first name alone, or something like "Grateful daughter", is fine.' };
    }
  }
  return { ok: true };
}
