// Spotting safeguarding risks in a story so moderators can escalate it at once (PRODUCT.md: risk of
// harm to self or others, abuse, neglect, a crime). Rule-based phrases, with negation handled for
// the phrases where "not" reverses the meaning ("I am not suicidal"), and idioms set aside ("I
// could have killed for a cup of tea"). It errs towards flagging: a moderator reads every story.
import { allMatches } from '../regex.ts';

export type SafeguardingReason = 'self_harm' | 'harm_to_others' | 'abuse' | 'neglect' | 'crime';

export interface SafeguardingMatch {
  start: number;
  end: number;
  reason: SafeguardingReason;
}

export interface SafeguardingAssessment {
  urgent: boolean;
  reasons: SafeguardingReason[];
  matches: SafeguardingMatch[];
}

interface Rule {
  reason: SafeguardingReason;
  re: RegExp;
  /** a "not", "never" or "no" just before the phrase cancels it */
  negatable: boolean;
}

const OTHERS =
  '(?:him|her|them|someone|somebody|people|others|other\\s+patients|staff|(?:a|the)\\s+(?:nurse|doctor|patient|member\\s+of\\s+staff|receptionist|porter|carer))\\b';
const PERSON_OBJ = '(?:him|her|them|me|us|my\\s+(?:mum|mother|dad|father|wife|husband|son|daughter|child|baby|partner|gran\\w*|nan))';

const RULES: Rule[] = [
  // self harm and suicide
  { reason: 'self_harm', negatable: true, re: /\bsuicid(?:e|al)\b(?!\s+(?:prevention|awareness)\s+(?:team|service|training|week))/gi },
  { reason: 'self_harm', negatable: true, re: /\b(?:want(?:ed|s)?|wanting|going|planning|plan|tried|trying|try)\s+to\s+(?:die|end\s+(?:it\s+all|my\s+life|it|things)|kill\s+myself|take\s+my\s+(?:own\s+)?life)\b/gi },
  { reason: 'self_harm', negatable: true, re: /\b(?:kill(?:ing|ed)?\s+myself|end(?:ing)?\s+my\s+(?:own\s+)?life|take\s+my\s+(?:own\s+)?life|end\s+it\s+all|better\s+off\s+dead|no\s+(?:reason|point)\s+(?:to|in)\s+(?:live|living|going\s+on))\b/gi },
  { reason: 'self_harm', negatable: true, re: /\bself[-\s]?harm(?:ing|ed)?\b|\b(?:cut(?:ting)?|hurt(?:ing)?|harm(?:ing)?|burn(?:ing|t)?)\s+myself\b/gi },
  { reason: 'self_harm', negatable: true, re: /\b(?:took|taken|take|taking)\s+an\s+overdose\b|\boverdosed\b|\bhang(?:ing)?\s+myself\b|\bjump(?:ing)?\s+(?:off|in\s+front\s+of)\b/gi },
  { reason: 'self_harm', negatable: true, re: /\b(?:don'?t|do\s+not|didn'?t)\s+want\s+to\s+(?:live|be\s+alive|be\s+here\s+any\s*more|wake\s+up)\b/gi },
  // harm to others
  { reason: 'harm_to_others', negatable: true, re: new RegExp(`\\b(?:kill|stab|attack|shoot|strangle)(?:ed|ing)?\\s+${OTHERS}`, 'gi') },
  { reason: 'harm_to_others', negatable: true, re: /\b(?:hurt|harm)(?:ing)?\s+(?:someone|somebody|people|others|other\s+people|other\s+patients|anyone|the\s+(?:staff|children|kids|baby|nurses?))\b/gi },
  { reason: 'harm_to_others', negatable: false, re: /\bthreat(?:ened|ening)?\s+(?:to\s+)?(?:kill|stab|hurt|harm|attack|shoot|beat)\b/gi },
  { reason: 'harm_to_others', negatable: true, re: /\b(?:going|want(?:ed|s)?|gonna)\s+to\s+(?:hurt|kill|harm|attack)\s+(?:someone|somebody|him|her|them|people|the\s+\w+)\b/gi },
  { reason: 'harm_to_others', negatable: false, re: /\b(?:had|with|carrying|pulled)\s+a\s+(?:knife|gun|weapon|blade)\b/gi },
  // abuse
  { reason: 'abuse', negatable: true, re: new RegExp(`\\b(?:hit|slapped|punched|kicked|pushed|shoved|grabbed|pinched|shook|strangled|choked|beat|beaten|bit|spat\\s+at)\\s+${PERSON_OBJ}\\b`, 'gi') },
  { reason: 'abuse', negatable: true, re: /\b(?:was|were|been|being|got|is|am)\s+(?:physically\s+|sexually\s+|verbally\s+|emotionally\s+)?(?:assaulted|abused|attacked|raped|molested|beaten|hit|slapped|punched|manhandled|restrained\s+roughly|groomed)\b/gi },
  { reason: 'abuse', negatable: true, re: /\b(?:sexual(?:ly)?\s+(?:assault(?:ed)?|abuse[ds]?|harass(?:ed|ment)?|touch(?:ed|ing)?|inappropriate|advances?|comments?)|rape[ds]?|raping|molest(?:ed|ation|ing)?|touched\s+(?:me|her|him)\s+inappropriately|inappropriate(?:ly)?\s+touch(?:ed|ing)?|indecent(?:ly)?)\b/gi },
  { reason: 'abuse', negatable: true, re: /\b(?:domestic\s+(?:violence|abuse)|physical(?:ly)?\s+abus(?:e|ed|ive)|emotional(?:ly)?\s+abus(?:e|ed|ive)|financial(?:ly)?\s+abus(?:e|ed)|rough(?:ly)?\s+handl(?:ed|ing)|manhandled|bullied|bullying)\b/gi },
  { reason: 'abuse', negatable: true, re: /\babus(?:e|ed|ing|ive)\b(?!\s+(?:line|helpline|service))/gi },
  { reason: 'abuse', negatable: true, re: /\b(?:unexplained|covered\s+in|lots\s+of|suspicious|strange|new)\s+(?:bruis(?:es|ing)|marks|injuries|burns)\b|\bbruis(?:es|ing)\s+(?:all\s+over|on\s+(?:her|his|my)\s+(?:face|neck|wrists?|arms?|legs?|body|back|chest))\b(?!\s+(?:from|after|where)\s+(?:the\s+)?(?:blood|cannula|drip|injection|needle|canula|the\s+fall|a\s+fall|falling|surgery|operation))/gi },
  // neglect
  { reason: 'neglect', negatable: false, re: /\bleft\s+(?:lying\s+|sitting\s+)?in\s+(?:(?:his|her|their|my|own|the)\s+)*(?:soiled|wet|dirty|urine|faeces|feces|excrement|poo|wee|mess|vomit|sick)(?:[- ]\w+)?(?:\s+(?:sheets|bed|pads?|clothes|nappy|bedding))?/gi },
  { reason: 'neglect', negatable: false, re: /\b(?:not|never|wasn'?t|weren'?t|hadn'?t|hasn'?t|haven'?t)\s+(?:been\s+)?(?:fed|given\s+(?:any\s+)?(?:food|water|a\s+drink|drinks|fluids|anything\s+to\s+(?:eat|drink)))\b/gi },
  { reason: 'neglect', negatable: false, re: /\b(?:no\s+food\s+or\s+(?:water|drink)|went\s+without\s+(?:food|water|a\s+drink)|without\s+(?:food|water|a\s+drink)\s+for\s+(?:\d+|two|three|four|five|six|several|many)\s+(?:hours|days)|starving\s+and\s+(?:thirsty|dehydrated)|left\s+(?:him|her|them|me)\s+to\s+starve)\b/gi },
  { reason: 'neglect', negatable: false, re: /\bleft\s+(?:on\s+the\s+floor|lying\s+on\s+the\s+floor|alone\s+for\s+(?:hours|days)|unattended\s+for\s+(?:hours|days)|without\s+(?:pain\s+relief|medication|his\s+medication|her\s+medication)\s+for\s+(?:hours|days))\b/gi },
  { reason: 'neglect', negatable: false, re: /\b(?:bed\s*sores?|pressure\s+(?:sores?|ulcers?))\b[^.!?]{0,40}\b(?:developed|got|left|ignored|untreated|grade\s+[34]|category\s+[34]|nobody|no\s+one|not\s+turned)\b|\bnot\s+(?:been\s+)?turned\s+for\b/gi },
  { reason: 'neglect', negatable: false, re: /\b(?:call\s+bell|buzzer)\s+(?:was\s+)?(?:out\s+of\s+reach|taken\s+away|ignored\s+for\s+(?:hours|ages))\b|\bneglect(?:ed|ful)?\b/gi },
  { reason: 'neglect', negatable: false, re: /\b(?:severely\s+)?dehydrated\s+and\s+(?:malnourished|starving|neglected)\b|\bmalnourished\b/gi },
  // crime
  { reason: 'crime', negatable: true, re: /\b(?:stole|stolen|steal(?:ing)?|theft|thief|thieves|robbed|robbery|burgl(?:ed|ary))\b/gi },
  { reason: 'crime', negatable: true, re: /\b(?:took|taking|take)\s+(?:money|cash|jewellery|rings?|cards?|bank\s+card)\s+from\b|\bfraud(?:ulent(?:ly)?)?\b|\bblackmail(?:ed)?\b/gi },
  { reason: 'crime', negatable: true, re: /\b(?:drunk|intoxicated|under\s+the\s+influence)\s+(?:on|at)\s+(?:duty|work|shift)\b|\bdealing\s+drugs\b/gi },
  { reason: 'crime', negatable: true, re: /\bassault(?:ed|ing)?\b/gi },
];

/** Idioms and ordinary uses that look like the phrases above. */
const IDIOMS =
  /\b(?:(?:could\s+have\s+|would\s+)?kill(?:ed)?\s+for\s+(?:a|an|some)|killing\s+time|kill\s+time|dying\s+(?:for|to)\s+(?:a|an|some|get|go|see|know)|to\s+die\s+for|(?:pain|wait|waiting|noise|heat|back|legs?|feet|head)\s+(?:was|is)\s+killing\s+me|bored\s+to\s+death|scared\s+(?:me\s+)?to\s+death|hit\s+and\s+miss|hit\s+the\s+(?:spot|nail|ground\s+running)|hit\s+me\s+(?:hard|that|with\s+the\s+news)|self[-\s]?harm\s+(?:team|service|clinic|nurse|liaison)|suicide\s+prevention|sexual\s+health|robbed\s+of\s+(?:time|sleep|dignity)|daylight\s+robbery|(?:parking|prices?|charges?)\s+(?:is|are|was|were)\s+(?:daylight\s+)?robbery|neglect(?:ed)?\s+to\s+(?:mention|tell|say|inform))\b/gi;

const NEGATION_BEFORE =
  /\b(?:not|never|no|nor|without|denied|deny|denies|isn'?t|wasn'?t|aren'?t|weren'?t|don'?t|didn'?t|doesn'?t|haven'?t|hasn'?t|no\s+longer|nobody|no\s+one|n't)\b(?:\s+\w+){0,2}\s*$/i;
const NEGATION_EXCEPTION = /\b(?:not\s+only|whether\s+or\s+not|if\s+not)\b/i;

export function assessSafeguarding(text: string): SafeguardingAssessment {
  const idioms: Array<[number, number]> = [];
  for (const m of allMatches(IDIOMS, text)) idioms.push([m.index ?? 0, (m.index ?? 0) + m[0].length]);
  const matches: SafeguardingMatch[] = [];
  for (const rule of RULES) {
    for (const m of allMatches(rule.re, text)) {
      const start = m.index ?? 0;
      const end = start + m[0].length;
      if (idioms.some(([s, e]) => s < end && start < e)) continue;
      if (rule.negatable) {
        // the clause before the phrase: "I am not suicidal", "he never hit me"
        const clauseStart = Math.max(text.lastIndexOf('.', start - 1), text.lastIndexOf(',', start - 1), text.lastIndexOf(';', start - 1), start - 40);
        const before = text.slice(clauseStart + 1, start);
        if (NEGATION_BEFORE.test(before) && !NEGATION_EXCEPTION.test(before)) continue;
      }
      if (matches.some((x) => x.start < end && start < x.end && x.reason === rule.reason)) continue;
      matches.push({ start, end, reason: rule.reason });
    }
  }
  matches.sort((a, b) => a.start - b.start);
  const order: SafeguardingReason[] = ['self_harm', 'harm_to_others', 'abuse', 'neglect', 'crime'];
  const reasons = order.filter((r) => matches.some((m) => m.reason === r));
  return { urgent: reasons.length > 0, reasons, matches };
}
