/**
 * The replication loop: read a batch → apply it and its position in one
 * replica transaction → acknowledge on the primary → wait for a NOTIFY or the
 * poll interval. Any failure is recorded, logged and retried with capped
 * exponential backoff from the replica's stored position; nothing is skipped.
 */
import type { Logger } from 'pino';
import type { ApplyMode } from '../apply/apply-changes.js';
import { type ReplicaPosition, readPosition } from '../apply/replica-position.js';
import { displayName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import { Acknowledger, acknowledge } from '../source/acknowledge.js';
import type { ChangeNotifications } from '../source/change-notifications.js';
import { pruneChangeLog } from '../source/prune-change-log.js';
import { finishedBy, inProgress, WakeupFlag } from '../source/wakeup-flag.js';
import { type PreparedTables, prepareTables } from './prepare-tables.js';
import { type BatchContext, type BatchResult, on, replicateBatch } from './replicate-batch.js';
import type { ReplicationStatus } from './replication-status.js';

export interface LoopOptions {
  pollIntervalMs: number;
  retentionMs: number;
  /** How often acknowledged changes past the retention are deleted. */
  pruneIntervalMs: number;
  /** Add a column the primary gained to the replica's table (AUTO_ADD_COLUMNS). */
  addColumns: boolean;
  /** Tables (TABLES) to add to the replication set if they are not in it. */
  ensureTables: readonly string[];
}

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;

export class ReplicationLoop {
  private stopping = false;
  private position: ReplicaPosition | undefined;
  private prepared: PreparedTables | undefined;
  private readonly wakeup: WakeupFlag;
  private readonly acknowledger: Acknowledger;
  /** Transactions in progress when the wakeup flag was turned on, not yet finished. */
  private inFlight: bigint[] | undefined;
  private shortPollMs = 0.5;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private done: Promise<void> | undefined;

  constructor(
    private readonly ctx: BatchContext,
    private readonly notifications: ChangeNotifications | undefined,
    private readonly status: ReplicationStatus,
    private readonly log: Logger,
    private readonly options: LoopOptions,
  ) {
    this.wakeup = new WakeupFlag(ctx.primary);
    this.acknowledger = new Acknowledger(ctx.primary, (error) => {
      // Not a replication failure (the replica's position is what counts); retried with the next batch.
      this.log.warn({ err: String((error as Error)?.message ?? error) }, 'acknowledging on the primary failed; will retry');
    });
  }

  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.notifications?.wake();
    if (this.sleeper) {
      clearTimeout(this.sleeper.timer);
      this.sleeper.resolve();
    }
    await this.done;
    this.status.state = 'stopped';
  }

  /** The tables as last prepared (for the health monitor's backlog count). */
  currentTables(): PreparedTables['tables'] {
    return this.prepared?.tables ?? [];
  }

  /** Initial copies not finished yet, as last prepared or advanced. */
  currentCopies(): PreparedTables['copies'] {
    return this.prepared?.copies ?? new Map();
  }

  /** The position as last read or written; undefined until the loop has read it. */
  currentPosition(): ReplicaPosition | undefined {
    return this.position;
  }

  private async run(): Promise<void> {
    let backoffMs = BACKOFF_START_MS;
    let mode: ApplyMode = 'upsert';
    let lastPrune = 0;
    let busyBatches = 0;
    while (!this.stopping) {
      try {
        if (!this.prepared) {
          this.prepared = await prepareTables(this.ctx, this.log, this.options);
          const names = this.prepared.tables.map((t) => displayName(t.table));
          this.log.info({ tables: names }, `replication set: ${names.join(', ') || '(empty: add tables with replicator add)'}`);
        }
        const from = this.position ?? (await this.recover(this.prepared));
        const batchStartedAt = performance.now();
        const batch = await replicateBatch(this.ctx, this.prepared, from, mode);
        if (batch === 'schema-changed') {
          this.log.info('the replication set or a replicated table changed on the primary; reading both catalogs again');
          this.prepared = undefined;
          continue;
        }
        mode = 'upsert';
        backoffMs = BACKOFF_START_MS;
        if ('empty' in batch) {
          this.status.recordCaughtUp();
        } else {
          this.recordBatch(batch, performance.now() - batchStartedAt);
          this.acknowledger.add(this.prepared.tables, batch.range);
        }
        if (Date.now() - lastPrune >= this.options.pruneIntervalMs && this.position?.snapshot) {
          lastPrune = Date.now();
          await this.prune(this.position.snapshot);
        }
        if (!('empty' in batch)) {
          // Busy: read again at once, and let writers stop notifying.
          if (++busyBatches >= 2) await this.onPrimary(this.wakeup.set(false));
          this.inFlight = undefined;
          continue;
        }
        busyBatches = 0;
        await this.waitForChanges(batch.snapshot);
      } catch (error) {
        if (this.stopping) break;
        if (mode === 'upsert' && (error as ReplicatorError).sqlState === '23505') {
          // A unique value moved between rows inside one primary transaction:
          // apply this batch again, deleting before inserting.
          this.log.info('unique value moved between rows in this batch; re-applying it with delete-then-insert');
          mode = 'replace';
          continue;
        }
        mode = 'upsert';
        // Start over from what the replica says it holds; re-read both catalogs
        // if the schema may be why it failed.
        this.position = undefined;
        this.wakeup.reset();
        this.inFlight = undefined;
        const code = error instanceof ReplicatorError ? error.code : 'INTERNAL';
        const message = error instanceof Error ? error.message : String(error);
        if (code !== 'DATABASE_UNREACHABLE') this.prepared = undefined;
        this.status.recordError(code, message);
        this.log.error({ code, retry_in_ms: backoffMs }, message);
        this.log.debug({ err: (error as Error).cause ?? error }, 'cause of the error above');
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
      }
    }
    await this.acknowledger.flush();
  }

  /**
   * Caught up as of `snapshot`: wait until there may be more. With LISTEN,
   * turn the wakeup flag on, then poll (1 ms, doubling to 100 ms) until every
   * transaction that was in progress when it was turned on has finished (one
   * of them may have missed the flag, see wakeup-flag.ts), then wait for a
   * NOTIFY or the poll interval. Without LISTEN, just the poll interval.
   */
  private async waitForChanges(snapshot: string): Promise<void> {
    if (!this.notifications) {
      await this.onPrimary(this.wakeup.set(false));
      await this.sleep(this.options.pollIntervalMs);
      return;
    }
    if (!this.wakeup.isListening) {
      await this.onPrimary(this.wakeup.set(true));
      this.inFlight = undefined; // the next batch's snapshot is the first after the flag
      return;
    }
    this.inFlight = this.inFlight === undefined ? inProgress(snapshot) : this.inFlight.filter((x) => !finishedBy(x, snapshot));
    if (this.inFlight.length > 0) {
      this.shortPollMs = Math.min(this.shortPollMs * 2, 100);
      // A NOTIFY (the flag is on) ends the short wait early.
      await this.notifications.wait(this.shortPollMs);
      return;
    }
    this.shortPollMs = 0.5;
    await this.notifications.wait(this.options.pollIntervalMs);
    this.inFlight = undefined;
  }

  private onPrimary<T>(work: Promise<T>): Promise<T> {
    return on(this.ctx, 'primary')(work);
  }

  private recordBatch(batch: BatchResult, durationMs: number): void {
    this.position = batch.position;
    const lagMs = Math.max(0, Date.now() - batch.oldestCapturedAt);
    this.status.recordBatch({
      lastChangeId: batch.position.lastChangeId,
      changes: batch.changes,
      lagMs,
      perTable: new Map([...batch.perTable].map(([t, n]) => [displayName(t.table), n])),
      counts: batch.counts,
      durationMs,
    });
    for (const copy of batch.copied) {
      const table = displayName(copy.table);
      this.status.recordInitialCopy(table, copy.rowsCopied, copy.rowsEstimated);
      this.log.info(
        { table, rows_copied: copy.rowsCopied, rows_estimated: copy.rowsEstimated, done: copy.done },
        `initial copy of ${table}: ${copy.rowsCopied} rows${copy.rowsEstimated ? ` of ~${copy.rowsEstimated}` : ''}${copy.done ? ', done' : ''}`,
      );
    }
    if (batch.changes === 0) return;
    const { upserted, deleted, truncated } = batch.counts;
    this.log.info(
      {
        changes: batch.changes,
        ...batch.counts,
        last_change_id: batch.position.lastChangeId,
        lag_ms: Math.round(lagMs),
        duration_ms: Math.round(durationMs),
      },
      `applied ${batch.changes} change${batch.changes === 1 ? '' : 's'} (${upserted} upserted, ${deleted} deleted${truncated ? `, ${truncated} truncate` : ''}) in ${Math.round(durationMs)} ms, lag ${Math.round(lagMs)} ms, up to change ${batch.position.lastChangeId}`,
    );
  }

  /**
   * After a start or a failure: trust only what the replica says it holds, and
   * acknowledge on the primary whatever that covers (a crash can land between
   * the replica commit and the acknowledgment).
   */
  private async recover(prepared: PreparedTables): Promise<ReplicaPosition> {
    const position = await on(this.ctx, 'replica')(readPosition(this.ctx.replica));
    if (position.snapshot !== null) {
      const lastBatch = { from: position.previousSnapshot, to: position.snapshot };
      for (const table of prepared.tables) {
        const n = await this.onPrimary(acknowledge(this.ctx.primary, table, lastBatch));
        if (n > 0)
          this.log.info({ table: displayName(table.table), changes: n }, 'acknowledged changes the replica already held');
      }
    }
    if (this.status.lastChangeId === '0') this.status.lastChangeId = position.lastChangeId;
    this.position = position;
    return position;
  }

  private async prune(replicaSnapshot: string): Promise<void> {
    for (const table of this.prepared?.tables ?? []) {
      const n = await pruneChangeLog(this.ctx.primary, table, this.options.retentionMs, replicaSnapshot);
      if (n > 0) this.log.debug({ table: displayName(table.table), deleted: n }, 'pruned acknowledged changes');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeper = undefined;
        resolve();
      }, ms);
      this.sleeper = { timer, resolve };
    });
  }
}
