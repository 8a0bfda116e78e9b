/**
 * replicator.wakeup.listening tells the capture triggers whether anyone waits
 * for their NOTIFY. PostgreSQL serializes the commits of notifying
 * transactions, so while the replicator is busy (it will read again at once
 * anyway) the flag is off and writers commit in parallel; when it runs out of
 * work it turns the flag on and waits for a notification.
 *
 * The race: a writer that read the flag as off just before it was turned on
 * sends no notification. Its transaction then had an id when the flag was
 * set, so it is visible in, or in progress at, the first snapshot taken after
 * that. The loop keeps polling (briefly, backing off) until every transaction
 * in progress at that snapshot has finished, and only then relies on NOTIFY.
 */
import type pg from 'pg';

export class WakeupFlag {
  private listening: boolean | undefined;

  constructor(private readonly primary: pg.Pool) {}

  get isListening(): boolean {
    return this.listening === true;
  }

  async set(listening: boolean): Promise<void> {
    if (this.listening === listening) return;
    await this.primary.query('UPDATE replicator.wakeup SET listening = $1 WHERE listening IS DISTINCT FROM $1', [listening]);
    this.listening = listening;
  }

  /** Forget the known state (after a reconnect the flag may have been changed by someone else). */
  reset(): void {
    this.listening = undefined;
  }
}

/** Transaction ids in progress at a snapshot ('xmin:xmax:xip,...'). */
export function inProgress(snapshot: string): bigint[] {
  const xip = snapshot.split(':')[2] ?? '';
  return xip === '' ? [] : xip.split(',').map((x) => BigInt(x));
}

/** Whether transaction `xid` had finished (committed or aborted) as of `snapshot`. */
export function finishedBy(xid: bigint, snapshot: string): boolean {
  const [xmin, xmax] = snapshot.split(':').map((x) => BigInt(x)) as [bigint, bigint];
  return xid < xmin || (xid < xmax && !inProgress(snapshot).includes(xid));
}
