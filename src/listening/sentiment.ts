/**
 * The sentiment model answers 1 (very positive) to 5 (very negative), as the NHS coded comments it
 * learnt from. The live wall, hotspots and praise speak in these bands.
 */
export const SENTIMENT_WORDS: Record<string, string> = { '1': 'very positive', '2': 'positive', '3': 'mixed', '4': 'negative', '5': 'very negative' };

export const isNegative = (s: string | null | undefined): boolean => s === '4' || s === '5';
/** Praise worth passing on: strongly positive only. */
export const isPraise = (s: string | null | undefined): boolean => s === '1';

export type SentimentBand = 'positive' | 'neutral' | 'negative';
export function band(s: string | null | undefined): SentimentBand | null {
  if (s === '1' || s === '2') return 'positive';
  if (s === '3') return 'neutral';
  if (s === '4' || s === '5') return 'negative';
  return null;
}
