/**
 * The older transactions an initial copy waits for, logical mode.
 *
 * A transaction in progress when the stream (re)started may have written to
 * a table before the publication held it: pgoutput never sends those
 * changes, so only a copy whose snapshot comes after that transaction ended
 * brings them. The stream's start records the primary's snapshot (the
 * horizon); a copy starts only once every transaction in progress in it has
 * ended.
 *
 * The wait never holds replication: `passed()` looks once (at most every
 * `delay`, doubling from 5 ms to 200 ms) and says no, and the caller applies
 * the stream's transactions meanwhile, the copied table's included. That is
 * exact because each of them committed before the copy's snapshot is taken:
 * a fresh copy's first chunk clears the table and brings every row as of that
 * snapshot, and a resumed copy's next chunk supersedes the rows of its range,
 * as between any two chunks. After HORIZON_WARN_MS of waiting, the
 * transactions waited for are named once in the log.
 */
import type { Logger } from 'pino';
import type { Database } from '../../db/database.js';

/** How long an initial copy waits for older transactions to end before a warning naming them. */
const HORIZON_WARN_MS = 10_000;
const FIRST_DELAY_MS = 5;
const LONGEST_DELAY_MS = 200;

export class CopyHorizon {
  /** pg_current_snapshot() at the stream's start; null once every transaction in progress in it has ended. */
  private snapshot: string | null = null;
  private waitingSince: number | null = null;
  private warned = false;
  private delayMs = FIRST_DELAY_MS;
  private nextLookAt = 0;

  constructor(
    private readonly primary: Database,
    private readonly log: Logger,
  ) {}

  /** A new stream: its copies wait for the transactions in progress in `snapshot`. */
  reset(snapshot: string | null): void {
    this.snapshot = snapshot;
    this.waitingSince = null;
    this.warned = false;
    this.delayMs = FIRST_DELAY_MS;
    this.nextLookAt = 0;
  }

  /** While a copy waits: how long until its next look (at least the first delay, so an idle caller never spins); null when none waits. */
  get msToNextLook(): number | null {
    return this.snapshot === null || this.waitingSince === null ? null : Math.max(FIRST_DELAY_MS, this.nextLookAt - Date.now());
  }

  /** Whether a copy may take its snapshot now: every older transaction has ended. One round trip at most, none before its delay is up. */
  async passed(): Promise<boolean> {
    const snapshot = this.snapshot;
    if (snapshot === null) return true;
    const now = Date.now();
    if (now < this.nextLookAt) return false;
    this.waitingSince ??= now;
    if (!this.warned && now - this.waitingSince >= HORIZON_WARN_MS) {
      this.warned = true;
      await this.warnOlderTransactions(snapshot);
    }
    const { rows } = await this.primary.query<{ done: boolean }>(
      `SELECT pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot()) OPERATOR(pg_catalog.>=)
              pg_catalog.pg_snapshot_xmax($1::pg_catalog.pg_snapshot) AS done`,
      [snapshot],
    );
    if (rows[0]?.done === true) {
      // (A stream started again meanwhile has its own horizon.)
      if (this.snapshot === snapshot) this.snapshot = null;
      return true;
    }
    this.nextLookAt = Date.now() + this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, LONGEST_DELAY_MS);
    return false;
  }

  /**
   * Names the transactions waited for (an application's session left idle in
   * transaction): each holds the lock on its own transaction id, which
   * pg_locks shows to any role (pg_stat_activity hides other roles' queries).
   */
  private async warnOlderTransactions(snapshot: string): Promise<void> {
    const { rows } = await this.primary
      .query<{ who: string }>(
        `SELECT pg_catalog.format('pid %s (%s%s)', l.pid, coalesce(a.usename, 'a prepared transaction'),
                                  coalesce(', ' OPERATOR(pg_catalog.||) a.state, '')) AS who
           FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) l.pid
          WHERE l.locktype OPERATOR(pg_catalog.=) 'transactionid' AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock' AND l.granted
            AND EXISTS (SELECT FROM pg_catalog.pg_snapshot_xip($1::pg_catalog.pg_snapshot) x
                         WHERE (x::text::numeric OPERATOR(pg_catalog.%) 4294967296)::text OPERATOR(pg_catalog.=) l.transactionid::text)
          ORDER BY l.pid LIMIT 5`,
        [snapshot],
      )
      .catch(() => ({ rows: [] as { who: string }[] }));
    this.log.warn(
      { waiting_for: rows.map((r) => r.who) },
      `an initial copy has waited ${HORIZON_WARN_MS / 1000} s for transactions older than the replication set's last change to end (changes they made before the publication held their table are only in the copy); the other changes go on replicating meanwhile: end or commit them${rows.length > 0 ? ` (${rows.map((r) => r.who).join('; ')})` : ''}`,
    );
  }
}
