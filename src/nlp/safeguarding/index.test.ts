import { describe, expect, it } from 'vitest';
import { assessSafeguarding } from './index.ts';

describe('assessSafeguarding', () => {
  it.each([
    ['I want to die, I cannot go on like this', 'self_harm'],
    ['I have been feeling suicidal since the discharge', 'self_harm'],
    ['I told them I would kill myself and nobody listened', 'self_harm'],
    ['I wanted to end my life that night', 'self_harm'],
    ['She has been self-harming again', 'self_harm'],
    ['He says he is going to hurt someone', 'harm_to_others'],
    ['He threatened to kill the nurse', 'harm_to_others'],
    ['The carer hit me when nobody was looking', 'abuse'],
    ['My mother was assaulted by another patient', 'abuse'],
    ['She was sexually abused by a member of staff', 'abuse'],
    ['He came home covered in bruises', 'abuse'],
    ['Dad was left in soiled sheets for hours', 'neglect'],
    ['Mum was not fed for two days', 'neglect'],
    ['He was left on the floor after his fall', 'neglect'],
    ['Someone stole her rings from the bedside', 'crime'],
    ['There was a theft from the lockers on the ward', 'crime'],
  ])('flags "%s" as %s', (text, reason) => {
    const r = assessSafeguarding(text);
    expect(r.urgent).toBe(true);
    expect(r.reasons).toContain(reason);
    const m = r.matches.find((x) => x.reason === reason);
    expect(m && m.end > m.start).toBe(true);
  });

  it.each([
    'I waited 4 hours in A&E',
    'The receptionist was rude and unhelpful',
    'The food was cold and the tea was weak',
    'I could have killed for a cup of tea',
    'The pain was killing me but the nurses were great',
    'The cannula hurt my arm',
    'The sexual health clinic was really welcoming',
    'I am not suicidal, just tired of waiting',
    'He never hit me, he is a lovely man',
    'Parking charges are daylight robbery',
    'The doctor neglected to mention the side effects',
    'Excellent care, thank you all',
  ])('does not flag the ordinary complaint "%s"', (text) => {
    expect(assessSafeguarding(text)).toEqual({ urgent: false, reasons: [], matches: [] });
  });

  it('reports each reason once, in a fixed order, with match offsets', () => {
    const text = 'Money was stolen. I want to die. He hit me.';
    const r = assessSafeguarding(text);
    expect(r.reasons).toEqual(['self_harm', 'abuse', 'crime']);
    expect(r.matches.map((m) => text.slice(m.start, m.end))).toEqual(['stolen', 'want to die', 'hit me']);
  });
});
