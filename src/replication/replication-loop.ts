/**
 * The replication loop: prepare the tables → read a batch from the source →
 * apply it and its position in one replica transaction → tell the source →
 * read again, or wait for more. Any failure is recorded, logged and retried
 * with capped exponential backoff from the replica's stored position;
 * nothing is skipped. Whether an error is worth retrying soon is decided in
 * one place (errors.ts); those that need a person (a wrong password, a
 * position from another primary) are retried at the slowest pace, so fixing
 * them is enough to resume.
 */
import type { Logger } from 'pino';
import type { ApplyMode } from '../apply/apply-batch-in-transaction.js';
import { replicaFlushed } from '../apply/replica-flushed.js';
import { readPosition } from '../apply/replica-position.js';
import type { Database } from '../db/database.js';
import { displayName } from '../db/quote.js';
import { ERROR_CODES, ReplicatorError } from '../errors.js';
import type { ReplicaPosition } from '../source/position.js';
import type { PreparedTables, Source } from '../source/source.js';
import { type PrepareOptions, prepareTables } from './prepare-tables.js';
import type { ReplicationStatus } from './replication-status.js';
import { type BatchResult, runBatch } from './run-batch.js';

const BACKOFF_START_MS = 100;
const BACKOFF_MAX_MS = 10_000;

export class ReplicationLoop {
  private stopping = false;
  private position: ReplicaPosition | undefined;
  private prepared: PreparedTables | undefined;
  private done: Promise<void> | undefined;
  private knownSnapshot: string | null = null;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(
    private readonly source: Source,
    private readonly primary: Database,
    private readonly replica: Database,
    private readonly status: ReplicationStatus,
    private readonly log: Logger,
    private readonly options: PrepareOptions,
  ) {}

  /** Pruning on the primary waits for this: the replica commits without waiting for its flush (database.ts). */
  private readonly replicaDurable = () => replicaFlushed(this.replica);

  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.source.wake();
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
    while (!this.stopping) {
      try {
        const from = this.position ?? (await this.recover());
        if (!this.prepared) {
          this.prepared = await prepareTables(this.primary, this.replica, this.source, from, this.log, this.options);
          const names = this.prepared.tables.map((t) => displayName(t.table));
          this.log.info({ tables: names }, `replication set: ${names.join(', ') || '(empty: add tables with replicator add)'}`);
          await this.source.recovered(this.prepared, from);
        }
        const prepared = this.prepared;
        const started = performance.now();
        const result = await runBatch(this.source, this.replica, prepared, from, mode);
        if (result === 'schema-changed') {
          this.log.info('the replication set or a replicated table changed on the primary; reading both catalogs again');
          this.prepared = undefined;
          continue;
        }
        backoffMs = BACKOFF_START_MS;
        if ('empty' in result) {
          // (A batch to re-apply the long way keeps that mode until it is applied: a restarted stream may read nothing at first.)
          this.status.recordCaughtUp();
          await this.source.housekeeping(prepared, from, this.replicaDurable);
          await this.source.wait(result.snapshot);
          continue;
        }
        mode = 'upsert';
        this.recordBatch(result, performance.now() - started);
        this.source.committed(prepared, from, result.batch);
        await this.source.housekeeping(prepared, result.position, this.replicaDurable);
        this.source.busy();
      } catch (error) {
        if (this.stopping) break;
        // What the source read and the replica did not commit is read again, never skipped.
        await this.source.failed(error).catch(() => {});
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
    await this.source.stop();
  }

  private recordBatch(result: BatchResult, durationMs: number): void {
    const { batch } = result;
    this.position = result.position;
    this.knownSnapshot = result.position.snapshot;
    if (batch.tables.length === 0 && result.copied.length === 0) {
      // Only the position moved (an idle WAL source): caught up, no batch to count.
      this.status.recordCaughtUp();
      return;
    }
    const lagMs = Number.isFinite(batch.oldestCapturedAt) ? Math.max(0, Date.now() - batch.oldestCapturedAt) : 0;
    const captured = { inserts: 0, updates: 0, deletes: 0, truncates: 0 };
    const perTable = new Map<string, number>();
    for (const [table, c] of result.captured) {
      captured.inserts += c.inserts;
      captured.updates += c.updates;
      captured.deletes += c.deletes;
      captured.truncates += c.truncates;
      perTable.set(displayName(table.table), c.inserts + c.updates + c.deletes + c.truncates);
    }
    this.status.recordBatch({
      lastChangeId: result.position.lastChangeId,
      changes: batch.changes,
      lagMs,
      perTable,
      counts: result.counts,
      captured,
      durationMs,
    });
    for (const copy of result.copied) {
      // An empty table's copy, over in one chunk, is not worth a progress bar.
      if (copy.done && copy.rowsCopied === 0) continue;
      const table = displayName(copy.table);
      this.status.recordInitialCopy(table, copy.rowsCopied, copy.rowsEstimated);
      this.log.info(
        { table, rows_copied: copy.rowsCopied, rows_estimated: copy.rowsEstimated, done: copy.done },
        `initial copy of ${table}: ${copy.rowsCopied} rows${copy.rowsEstimated ? ` of ~${copy.rowsEstimated}` : ''}${copy.done ? ', done' : ''}`,
      );
    }
    this.reportLeftOut(result);
    if (batch.changes === 0) return;
    const { upserted, deleted, truncated } = result.counts;
    this.log.info(
      {
        changes: batch.changes,
        upserted,
        deleted,
        truncated,
        last_change_id: result.position.lastChangeId,
        lag_ms: Math.round(lagMs),
        duration_ms: Math.round(durationMs),
      },
      `applied ${batch.changes} change${batch.changes === 1 ? '' : 's'} (${upserted} upserted, ${deleted} deleted${truncated ? `, ${truncated} truncate` : ''}) in ${Math.round(durationMs)} ms, lag ${Math.round(lagMs)} ms, up to change ${result.position.lastChangeId}`,
    );
  }

  /**
   * UPDATEs not applied because they left a TOASTed value out of a row the
   * replica does not hold (apply/table-statements.ts, resolveUnchanged).
   * Expected while the table's initial copy runs (the row's chunk brings
   * it); otherwise the replica lacked the row before this batch: said.
   */
  private reportLeftOut(result: BatchResult): void {
    if (!result.counts.leftOut) return;
    for (const [table, updates] of result.counts.leftOut) {
      const name = displayName(table.table);
      // Copying still, or finished by this very batch.
      if (this.currentCopies().has(table) || result.copied.some((c) => c.table === table.table)) {
        this.log.debug({ table: name, updates }, 'UPDATEs of rows the initial copy has not reached yet left to the copy');
        continue;
      }
      this.log.warn(
        { table: name, updates },
        `${updates} UPDATE${updates === 1 ? '' : 's'} of ${name} not applied: ${updates === 1 ? 'its row is' : 'their rows are'} missing on the replica, and the WAL does not repeat the large (TOASTed) values an UPDATE leaves unchanged, so the row cannot be rebuilt from it (the replica lacked it before this batch); run \`replicator verify ${name}\` to see what differs, then \`replicator resync ${name}\``,
      );
    }
  }

  /** After a start or a failure: trust only what the replica says it holds. */
  private async recover(): Promise<ReplicaPosition> {
    const position = await readPosition(this.replica);
    if (this.status.lastChangeId === '0') this.status.lastChangeId = position.lastChangeId;
    this.position = position;
    this.knownSnapshot = position.snapshot;
    // Re-read both catalogs too: the source learns again what the replica holds.
    this.prepared = undefined;
    return position;
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
