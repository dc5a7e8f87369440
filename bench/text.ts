// The text tools' throughput on one core, on the real comments: classifying a story's themes and
// sentiment (what the story.classify job and the FFT import do per comment) and finding and
// replacing identifying details (what telling a story does to its title and body).
import { classifyText } from '../src/stories/models.ts';
import { redact } from '../src/nlp/redact/index.ts';
import { commentTexts } from './lib/comments.ts';
import { perSecond } from './lib/throughput.ts';

export function measureTextTools(seconds: number): { classifyPerSecond: number; redactPerSecond: number } {
  const texts = commentTexts();
  // The first call loads the models from disk: not part of the throughput.
  classifyText(texts[0]!);
  return {
    classifyPerSecond: perSecond(texts, (t) => classifyText(t).themes.length, seconds),
    redactPerSecond: perSecond(texts, (t) => redact(t).findings.length, seconds),
  };
}
