/**
 * How fast requests are arriving at this process: the job loop asks it whether to yield (see
 * WorkerOptions.busy), so a burst of people telling stories is answered first and the background
 * work behind it catches up when the burst has passed.
 */
export class RequestRate {
  private count = 0;
  private seenCount = 0;
  private seenAt = performance.now();

  constructor(private readonly busyPerSecond = 500) {}

  started(): void {
    this.count++;
  }

  /** True when more than `busyPerSecond` requests a second arrived since the last call. */
  busy(): boolean {
    const t = performance.now();
    const perSecond = ((this.count - this.seenCount) * 1000) / Math.max(1, t - this.seenAt);
    this.seenCount = this.count;
    this.seenAt = t;
    return perSecond > this.busyPerSecond;
  }
}
