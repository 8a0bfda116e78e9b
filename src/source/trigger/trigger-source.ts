/**
 * The trigger source: batches from the primary's change logs.
 *
 * - next(): the usual batch inline, in one primary statement; a large one,
 *   one with a TRUNCATE, initial-copy chunks, or any batch behind a
 *   transaction-mode pooler, staged: a REPEATABLE READ transaction held open
 *   (until release()) while the replica applies what it streams.
 * - wait(): the wakeup token (wakeup-token.ts): arm it, read once more,
 *   poll while a transaction in progress when it was armed may have drawn it
 *   unarmed, then wait for the one NOTIFY (or a safety poll). Where writers
 *   never notify (two-phase commit possible, or LISTEN down) it polls, 1 ms
 *   doubling to 50 ms; with USE_LISTEN=false, every POLL_INTERVAL.
 * - committed() / recovered(): acknowledgment, in the background, only ever
 *   after the replica committed; housekeeping(): pruning, in the background.
 */
import type { Logger } from 'pino';
import { checkCapture } from '../../capture/check-capture.js';
import type { Database } from '../../db/database.js';
import { displayName } from '../../db/quote.js';
import { estimateRows, planCopyChunk } from '../../initial-copy/copy-chunk.js';
import type { RegistryEntry } from '../../tables/registry.js';
import type { TableDescription } from '../../tables/table-model.js';
import type { Batch, CopyChunk } from '../batch.js';
import type { ReplicaPosition } from '../position.js';
import type { NextBatch, PreparedTables, Source } from '../source.js';
import { Acknowledger, acknowledge } from './acknowledge.js';
import type { ChangeNotifications } from './change-notifications.js';
import { pruneChangeLog } from './prune-change-log.js';
import { type BatchLimits, readInlineBatch } from './read-inline-batch.js';
import { beginStagedBatch, readStagedBatch } from './read-staged-batch.js';
import { armWakeup, finishedBy, inProgress, writersNotify } from './wakeup-token.js';

export interface TriggerSourceOptions {
  limits: BatchLimits;
  /** Rows per initial-copy chunk. */
  copyChunkRows: number;
  /** USE_LISTEN=false: how often to poll; otherwise the longest wait. */
  pollIntervalMs: number;
  retentionMs: number;
  pruneIntervalMs: number;
}

/** With the token armed, a poll this often still runs (the writer that drew it may roll back). */
const NOTIFY_SAFETY_POLL_MS = 1000;
/** Where writers never notify, the idle poll backs off from 1 ms to this. */
const IDLE_POLL_MAX_MS = 50;

export class TriggerSource implements Source {
  readonly mode = 'trigger' as const;
  private readonly acknowledger: Acknowledger;
  private armed = false;
  /** Transactions in progress when the token was armed, not yet finished. */
  private inFlight: bigint[] | undefined;
  private shortPollMs = 0.5;
  private idlePollMs = 1;
  private notify: boolean | undefined;
  private lastPrune = 0;
  /** The pruning round in flight. */
  private pruning: Promise<void> | undefined;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(
    private readonly primary: Database,
    private readonly notifications: ChangeNotifications | undefined,
    private readonly options: TriggerSourceOptions,
    private readonly log: Logger,
  ) {
    this.acknowledger = new Acknowledger(primary, (error) => {
      // Not a replication failure (the replica's position is what counts); retried with the next batch.
      this.log.warn({ err: String((error as Error)?.message ?? error) }, 'acknowledging on the primary failed; will retry');
    });
  }

  checkTable(entry: RegistryEntry, description: TableDescription | null): Promise<void> {
    return checkCapture(this.primary, entry, description);
  }

  async next(prepared: PreparedTables, from: ReplicaPosition): Promise<NextBatch> {
    if (!this.primary.pooler && prepared.copies.size === 0 && from.snapshot !== null) {
      const read = await readInlineBatch(
        this.primary,
        prepared.tables,
        { ...from, snapshot: from.snapshot },
        this.options.limits,
      );
      if (read.fingerprint !== prepared.fingerprint) return 'schema-changed';
      if (!read.overflow) {
        if (!read.batch) return { empty: true, snapshot: read.snapshot };
        return { batch: read.batch, release: async () => {} };
      }
    }
    return this.nextStaged(prepared, from);
  }

  /** The staged read: the primary's transaction stays open until release(). */
  private async nextStaged(prepared: PreparedTables, from: ReplicaPosition): Promise<NextBatch> {
    const client = await this.primary.on(this.primary.pool.connect());
    let failed = false;
    const release = async () => {
      await client.query('COMMIT').catch(() => {});
      client.release(failed);
    };
    try {
      const tables = new Set([...prepared.tables.map((t) => t.table), ...[...prepared.copies.keys()].map((t) => t.table)]);
      const start = await beginStagedBatch(client, from, [...tables]).catch((error) => {
        // A replicated table renamed or dropped since the tables were prepared.
        if ((error as { code?: string }).code === '42P01') return 'schema-changed' as const;
        throw error;
      });
      if (start === 'schema-changed') {
        await release();
        return start;
      }
      if (start.fingerprint !== prepared.fingerprint) {
        await release();
        return 'schema-changed';
      }
      const copies: CopyChunk[] = [];
      for (const [table, copy] of prepared.copies) {
        const progress = copy.fresh ? { ...copy.progress, rowsEstimated: await estimateRows(client, table) } : copy.progress;
        copies.push(await planCopyChunk(client, table, progress, copy.fresh, this.options.copyChunkRows));
      }
      const read = await readStagedBatch(client, prepared.tables, from, start, copies);
      if (read.resync.length > 0) {
        // A truncated hash partition: its rows cannot be told apart on the replica; copy the table afresh.
        for (const table of read.resync) {
          await client.query('SELECT replicator.request_copy($1, $2)', [table.table.schema, table.table.name]);
        }
        await release();
        return 'schema-changed';
      }
      // A replica without a position records where it starts, even with nothing else to write.
      if (read.batch.tables.length === 0 && read.batch.copies.length === 0 && from.exists) {
        await release();
        return { empty: true, snapshot: start.snapshot };
      }
      return {
        batch: read.batch,
        release: async () => {
          await release();
        },
      };
    } catch (error) {
      failed = true;
      await release();
      throw this.primary.classify(error);
    }
  }

  busy(): void {
    // The token, drawn by a writer, stays drawn: nobody notifies while we are busy.
    this.armed = false;
    this.inFlight = undefined;
    this.idlePollMs = 1;
  }

  /** Nothing is held between batches: the next one is read from the change logs after the replica's position. */
  async failed(_error: unknown): Promise<void> {}

  async wait(snapshot: string): Promise<void> {
    const notifications = this.notifications;
    if (!notifications) {
      await this.sleep(this.options.pollIntervalMs);
      return;
    }
    this.notify ??= await writersNotify(this.primary);
    if (!this.notify || !notifications.listening) {
      await notifications.wait(Math.min(this.idlePollMs, this.options.pollIntervalMs));
      this.idlePollMs = Math.min(this.idlePollMs * 2, IDLE_POLL_MAX_MS);
      return;
    }
    if (!this.armed) {
      await armWakeup(this.primary);
      this.armed = true;
      this.inFlight = undefined; // the next read's snapshot is the first after arming
      return;
    }
    this.inFlight = this.inFlight === undefined ? inProgress(snapshot) : this.inFlight.filter((x) => !finishedBy(x, snapshot));
    if (this.inFlight.length > 0) {
      this.shortPollMs = Math.min(this.shortPollMs * 2, 100);
      await notifications.wait(this.shortPollMs); // a NOTIFY ends it early
      return;
    }
    this.shortPollMs = 0.5;
    await notifications.wait(Math.min(this.options.pollIntervalMs, NOTIFY_SAFETY_POLL_MS));
    // The token may have been drawn: arm it again if the next read finds nothing.
    this.armed = false;
    this.inFlight = undefined;
  }

  committed(prepared: PreparedTables, from: ReplicaPosition, batch: Batch): void {
    if (batch.to.snapshot !== null) this.acknowledger.add(prepared.tables, { from: from.snapshot, to: batch.to.snapshot });
  }

  async recovered(prepared: PreparedTables, position: ReplicaPosition): Promise<void> {
    // Forget what was learned of the primary before: the failure may have been a restart.
    this.armed = false;
    this.inFlight = undefined;
    this.notify = undefined;
    if (position.snapshot === null) return;
    const marked = await acknowledge(this.primary, prepared.tables, { from: position.previousSnapshot, to: position.snapshot });
    if (marked > 0) this.log.info({ changes: marked }, 'acknowledged changes the replica already held');
  }

  /** Pruning runs beside the batches, one round at a time, so no batch waits on it; a failed round is tried again at its next turn. */
  async housekeeping(prepared: PreparedTables, position: ReplicaPosition, replicaDurable: () => Promise<boolean>): Promise<void> {
    if (this.pruning || position.snapshot === null || Date.now() - this.lastPrune < this.options.pruneIntervalMs) return;
    const snapshot = position.snapshot;
    this.pruning = (async () => {
      // A change is forgotten only once the replica's commit of it is on disk: try again at the next batch if not yet.
      if (!(await replicaDurable())) return;
      this.lastPrune = Date.now();
      for (const table of prepared.tables) {
        const n = await pruneChangeLog(this.primary, table, this.options.retentionMs, snapshot);
        if (n > 0) this.log.debug({ table: displayName(table.table), deleted: n }, 'pruned acknowledged changes');
      }
    })()
      .catch((error) => this.log.debug({ err: String(error) }, 'pruning the change logs failed; tried again at its next turn'))
      .finally(() => {
        this.pruning = undefined;
      });
  }

  wake(): void {
    this.notifications?.wake();
    if (this.sleeper) {
      clearTimeout(this.sleeper.timer);
      this.sleeper.resolve();
    }
  }

  async stop(): Promise<void> {
    this.wake();
    await this.pruning;
    await this.acknowledger.flush();
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
