/**
 * The replication loop: read a batch → apply it and its position in one
 * replica transaction → acknowledge on the primary → wait for more. Any
 * failure is recorded, logged and retried with capped exponential backoff
 * from the replica's stored position; nothing is skipped. Whether an error
 * is worth retrying soon is decided in one place (errors.ts); those that need
 * a person (a wrong password, a position from another primary) are retried
 * at the slowest pace, so fixing them is enough to resume.
 */
import type { Logger } from 'pino';
import type { ApplyMode } from '../apply/apply-batch-in-transaction.js';
import { type ReplicaPosition, readPosition } from '../apply/replica-position.js';
import { displayName } from '../db/quote.js';
import { ERROR_CODES, ReplicatorError } from '../errors.js';
import { Acknowledger, acknowledge } from '../source/trigger/acknowledge.js';
import type { ChangeNotifications } from '../source/trigger/change-notifications.js';
import { pruneChangeLog } from '../source/trigger/prune-change-log.js';
import { armWakeup, finishedBy, inProgress } from '../source/trigger/wakeup-token.js';
import { type PreparedTables, type PrepareOptions, prepareTables } from './prepare-tables.js';
import type { ReplicationStatus } from './replication-status.js';
import { type BatchContext, type BatchResult, canRunInline, runInlineBatch, runStagedBatch } from './run-batch.js';

export interface LoopOptions extends PrepareOptions {
  pollIntervalMs: number;
  retentionMs: number;
  /** How often acknowledged changes past the retention are deleted. */
  pruneIntervalMs: number;
}

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** Waiting with the wakeup token armed, a poll this often still runs (a notifying writer may roll back). */
const NOTIFY_SAFETY_POLL_MS = 1000;
/** Where writers never notify, the idle poll backs off from 1 ms to this. */
const IDLE_POLL_MAX_MS = 50;

export class ReplicationLoop {
  private stopping = false;
  private position: ReplicaPosition | undefined;
  private prepared: PreparedTables | undefined;
  private readonly acknowledger: Acknowledger;
  private armed = false;
  /** Transactions in progress when the token was armed, not yet finished. */
  private inFlight: bigint[] | undefined;
  private shortPollMs = 0.5;
  private idlePollMs = 1;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private done: Promise<void> | undefined;
  private knownSnapshot: string | null = null;

  constructor(
    private readonly ctx: BatchContext,
    private readonly notifications: ChangeNotifications | undefined,
    private readonly status: ReplicationStatus,
    private readonly log: Logger,
    private readonly options: LoopOptions,
  ) {
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

  /** The replica's snapshot as last known, kept while the replica is away (the backlog is still measured). */
  lastKnownSnapshot(): string | null {
    return this.knownSnapshot;
  }

  private async run(): Promise<void> {
    let backoffMs = BACKOFF_START_MS;
    let mode: ApplyMode = 'upsert';
    let lastPrune = 0;
    while (!this.stopping) {
      try {
        const from = this.position ?? (await this.recover());
        if (!this.prepared) {
          this.prepared = await prepareTables(this.ctx.primary, this.ctx.replica, from, this.log, this.options);
          const names = this.prepared.tables.map((t) => displayName(t.table));
          this.log.info({ tables: names }, `replication set: ${names.join(', ') || '(empty: add tables with replicator add)'}`);
          await this.acknowledgeRecovered(from);
        }
        const prepared = this.prepared;
        const batchStartedAt = performance.now();
        let batch =
          from.snapshot !== null && canRunInline(this.ctx, prepared, from, mode)
            ? await runInlineBatch(this.ctx, prepared, { ...from, snapshot: from.snapshot })
            : 'overflow';
        if (batch === 'overflow') batch = await runStagedBatch(this.ctx, prepared, from, mode);
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
          this.acknowledger.add(prepared.tables, batch.range);
        }
        if (Date.now() - lastPrune >= this.options.pruneIntervalMs && this.position?.snapshot) {
          lastPrune = Date.now();
          await this.prune(this.position.snapshot);
        }
        if ('empty' in batch) {
          await this.waitForChanges(batch.snapshot, prepared);
        } else {
          // Busy: read again at once. The token, drawn by a writer, stays drawn: no one notifies.
          this.armed = false;
          this.inFlight = undefined;
          this.idlePollMs = 1;
        }
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
        this.armed = false;
        this.inFlight = undefined;
        const code = error instanceof ReplicatorError ? error.code : 'INTERNAL';
        const message = error instanceof Error ? error.message : String(error);
        if (code !== 'DATABASE_UNREACHABLE') this.prepared = undefined;
        this.status.recordError(code, message);
        const retryable = error instanceof ReplicatorError ? ERROR_CODES[error.code].retryable : true;
        const wait = retryable ? backoffMs : BACKOFF_MAX_MS;
        this.log.error({ code, retry_in_ms: wait }, message);
        this.log.debug({ err: (error as Error).cause ?? error }, 'cause of the error above');
        await this.sleep(wait);
        backoffMs = Math.min(backoffMs * 2, BACKOFF_MAX_MS);
      }
    }
    await this.acknowledger.flush();
  }

  /**
   * Caught up as of `snapshot`: wait until there may be more. Arm the wakeup
   * token and read once more (the first snapshot after arming); then poll
   * (0.5 ms, doubling to 100 ms) until every transaction in progress at that
   * snapshot has finished (one of them may have drawn the token before it
   * was armed); then wait for the NOTIFY. Where writers never notify (or
   * LISTEN is down) the idle poll backs off from 1 ms to 50 ms; with
   * USE_LISTEN=false (a transaction-mode pooler) it is POLL_INTERVAL.
   */
  private async waitForChanges(snapshot: string, prepared: PreparedTables): Promise<void> {
    const notifications = this.notifications;
    if (!notifications) {
      await this.sleep(this.options.pollIntervalMs);
      return;
    }
    if (!prepared.writersNotify || !notifications.listening) {
      await notifications.wait(Math.min(this.idlePollMs, this.options.pollIntervalMs));
      this.idlePollMs = Math.min(this.idlePollMs * 2, IDLE_POLL_MAX_MS);
      return;
    }
    if (!this.armed) {
      await armWakeup(this.ctx.primary);
      this.armed = true;
      this.inFlight = undefined;
      return;
    }
    this.inFlight = this.inFlight === undefined ? inProgress(snapshot) : this.inFlight.filter((x) => !finishedBy(x, snapshot));
    if (this.inFlight.length > 0) {
      this.shortPollMs = Math.min(this.shortPollMs * 2, 100);
      // A NOTIFY ends the short wait early.
      await notifications.wait(this.shortPollMs);
      return;
    }
    this.shortPollMs = 0.5;
    await notifications.wait(Math.min(this.options.pollIntervalMs, NOTIFY_SAFETY_POLL_MS));
    // The token may have been drawn: arm it again if the next read finds nothing.
    this.armed = false;
    this.inFlight = undefined;
  }

  private recordBatch(batch: BatchResult, durationMs: number): void {
    this.position = batch.position;
    this.knownSnapshot = batch.position.snapshot;
    const lagMs = Number.isFinite(batch.oldestCapturedAt) ? Math.max(0, Date.now() - batch.oldestCapturedAt) : 0;
    const captured = { inserts: 0, updates: 0, deletes: 0, truncates: 0 };
    const perTable = new Map<string, number>();
    for (const [table, c] of batch.captured) {
      captured.inserts += c.inserts;
      captured.updates += c.updates;
      captured.deletes += c.deletes;
      captured.truncates += c.truncates;
      perTable.set(displayName(table.table), c.inserts + c.updates + c.deletes + c.truncates);
    }
    this.status.recordBatch({
      lastChangeId: batch.position.lastChangeId,
      changes: batch.changes,
      lagMs,
      perTable,
      counts: batch.counts,
      captured,
      durationMs,
    });
    for (const copy of batch.copied) {
      // An empty table's copy, over in one chunk, is not worth a progress bar.
      if (copy.done && copy.rowsCopied === 0) continue;
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

  /** After a start or a failure: trust only what the replica says it holds. */
  private async recover(): Promise<ReplicaPosition> {
    const position = await this.ctx.replica.on(readPosition(this.ctx.replica));
    if (this.status.lastChangeId === '0') this.status.lastChangeId = position.lastChangeId;
    this.position = position;
    this.knownSnapshot = position.snapshot;
    return position;
  }

  /** A crash can land between the replica commit and the acknowledgment: acknowledge what the replica holds. */
  private async acknowledgeRecovered(position: ReplicaPosition): Promise<void> {
    if (position.snapshot === null || !this.prepared) return;
    const marked = await acknowledge(this.ctx.primary, this.prepared.tables, {
      from: position.previousSnapshot,
      to: position.snapshot,
    });
    if (marked > 0) this.log.info({ changes: marked }, 'acknowledged changes the replica already held');
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
