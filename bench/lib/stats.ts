/** Rounds for display: benchmark figures are noisy well before the third decimal. */
export const round = (x: number, places = 2): number => Math.round(x * 10 ** places) / 10 ** places;

export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  // The smallest value with at least p of the values at or below it: rank ceil(p * n), from 1.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** p50/p95/p99/max of a set of durations in milliseconds. */
export function summarise(values: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => round(percentile(sorted, p));
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), p99: at(0.99), max: at(1) };
}
