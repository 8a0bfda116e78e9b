/**
 * Keeps a background task's work at most `share` of the wall time: every
 * moment between two pauses counts as work (queries outstanding on a server,
 * computing, waiting for a connection), and each pause lasts
 * work × (1 − share) / share, so over every work-then-pause cycle the work is
 * exactly `share` of the time, and never more. Time spent idle on purpose
 * (nothing to do) is declared with idle() and counted neither way.
 */
export class Throttle {
  private workStartedAt: number;
  /** Work done so far, in ms. */
  workMs = 0;

  constructor(
    readonly share: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(share > 0 && share <= 1)) throw new RangeError(`share must be in (0, 1], not ${share}`);
    this.workStartedAt = now();
  }

  /** Ends a stretch of work: how long to pause before the next one (ms). */
  endWork(): number {
    const worked = Math.max(0, this.now() - this.workStartedAt);
    this.workMs += worked;
    return (worked * (1 - this.share)) / this.share;
  }

  /** The pause (or an idle wait) is over: work starts again now. */
  resume(): void {
    this.workStartedAt = this.now();
  }
}
