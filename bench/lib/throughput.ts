/**
 * How many texts per second `fn` handles on one core, cycling through `texts` for `seconds`.
 * The clock is read every 200 calls so that reading it costs nothing measurable, and the results
 * feed a sink so the work cannot be optimised away.
 */
export function perSecond(texts: readonly string[], fn: (text: string) => unknown, seconds: number): number {
  let n = 0;
  let sink = 0;
  const started = performance.now();
  const end = started + seconds * 1000;
  let t = started;
  while (t < end) {
    for (let i = 0; i < 200; i++) {
      sink += fn(texts[n % texts.length]!) ? 1 : 0;
      n++;
    }
    t = performance.now();
  }
  if (sink < 0) console.error(sink);
  return Math.round(n / ((t - started) / 1000));
}
