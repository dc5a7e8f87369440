import { describe, expect, it } from 'vitest';
import { accuracy, classBalanceAccuracy, evaluateMulti, macroF1, macroF1Multi, microF1Multi } from './metrics.ts';
import { criticalityToScale, sentimentBand } from './api.ts';

describe('single-label metrics', () => {
  // confusion: a->a 2, a->b 1, b->b 1, c->a 1
  const t = ['a', 'a', 'a', 'b', 'c'];
  const p = ['a', 'a', 'b', 'b', 'a'];
  it('accuracy', () => expect(accuracy(t, p)).toBeCloseTo(3 / 5));
  it('class-balance accuracy = mean TP_c / max(pred_c, actual_c)', () => {
    // a: 2/max(3,3); b: 1/max(2,1); c: 0/max(0,1)
    expect(classBalanceAccuracy(t, p)).toBeCloseTo((2 / 3 + 1 / 2 + 0) / 3);
  });
  it('macro-F1', () => {
    // a: 2*2/(3+3); b: 2*1/(1+2); c: 0
    expect(macroF1(t, p)).toBeCloseTo((4 / 6 + 2 / 3 + 0) / 3);
  });
  it('rejects arrays of different length', () => expect(() => accuracy(['a'], [])).toThrow(/length/));
});

describe('multi-label metrics', () => {
  const t = [['x', 'y'], ['y'], ['z']];
  const p = [['x'], ['y', 'z'], []];
  it('micro-F1 pools counts', () => {
    // tp 2, actual 4, predicted 3
    expect(microF1Multi(t, p)).toBeCloseTo(4 / 7);
  });
  it('macro-F1 over labels present in the truth', () => {
    // x: 2/2 = 1; y: 2*1/(2+1); z: 0
    expect(macroF1Multi(t, p)).toBeCloseTo((1 + 2 / 3 + 0) / 3);
  });
  it('subset accuracy and any-correct', () => {
    const m = evaluateMulti(t, p);
    expect(m.subsetAccuracy).toBeCloseTo(0);
    expect(m.anyCorrect).toBeCloseTo(2 / 3);
  });
});

describe('label mappings', () => {
  it('maps phase-1 criticality onto 0..5', () => {
    expect(['-5', '-4', '-3', '-2', '-1', '0', '1', '3', '5'].map(criticalityToScale)).toEqual([5, 4, 3, 2, 1, 0, 0, 0, 0]);
    expect(criticalityToScale('NA')).toBe(0);
  });
  it('maps sentiment onto bands', () => {
    expect(['1', '2', '3', '4', '5'].map(sentimentBand)).toEqual(['positive', 'positive', 'mixed', 'negative', 'negative']);
    expect(() => sentimentBand('9')).toThrow(/unknown sentiment/);
  });
});
