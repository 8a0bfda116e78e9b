/**
 * What the service reports about itself. The first six fields are the Go
 * demo's /status, with its names and types; the rest are ours.
 *
 * Observers (the Prometheus metrics) hear every batch, error and initial-copy
 * update as it is recorded, so counters never depend on when /metrics is read.
 */
export type ReplicationState = 'starting' | 'running' | 'failing' | 'stopped';

export interface StatusSnapshot {
  last_lsn: string;
  last_sync_time: string | null;
  records_replicated: number;
  error_count: number;
  last_error: string | null;
  is_running: boolean;
  state: ReplicationState;
  /** Capture-to-replica-commit time of the oldest change in the last batch; 0 when caught up. */
  lag_ms: number | null;
  /** The same for the last batch committed, kept when caught up (null before the first). */
  last_batch_lag_ms: number | null;
  /** Captured changes the replica does not hold yet. */
  backlog: number | null;
  batches: number;
  last_error_code: string | null;
  last_error_time: string | null;
  primary_reachable: boolean | null;
  replica_reachable: boolean | null;
  started_at: string;
  tables: TableStatus[];
  /** Present only while (or after) an initial copy of existing rows has run. */
  initial_copy?: InitialCopyStatus[];
  /** How changes are captured: trigger change logs, or the WAL through a logical slot. */
  capture_mode?: 'trigger' | 'logical';
  /** Logical mode: bytes of WAL the slot holds back on the primary (pg_current_wal_lsn() - confirmed_flush_lsn); null until read. */
  retained_wal_bytes?: number | null;
  /** Continuous verification (src/verify/continuous-verify.ts); absent when VERIFY_SHARE=0. */
  verify?: VerifyStatus;
}

export interface VerifyStatus {
  /** VERIFY_SHARE: the most of the wall time its work takes. */
  share: number;
  /** Time spent working (queries outstanding on either server, or comparing) since it started. */
  work_seconds: number;
  /** Since when it runs. */
  started_at: string;
  tables: VerifyTableStatus[];
}

export interface VerifyTableStatus {
  table: string;
  /** Rows confirmed to differ (at least that many when divergent_truncated). */
  divergent_rows: number;
  /** More rows differed than are kept (1,000 per table). */
  divergent_truncated: boolean;
  /** The first of them (at most 20), oldest first: key (the servers' JSON text of the key columns), kind, first confirmed. */
  divergent: Array<{ key: string; kind: 'missing' | 'extra' | 'different'; since: string }>;
  /** When the last complete pass over the table ended; null before the first. */
  last_full_pass: string | null;
  full_passes: number;
  /** Rows compared so far in the pass under way. */
  pass_rows: number;
  /** Rows the last full pass compared (primary's count); null before the first. */
  last_pass_rows: number | null;
  /** Why the table is not being compared now (schema mismatch, initial copy not finished); null when it is. */
  note: string | null;
}

export interface TableStatus {
  table: string;
  changes_replicated: number;
  last_change_time: string | null;
}

export interface InitialCopyStatus {
  table: string;
  rows_done: number;
  /** The planner's estimate of the table's rows (pg_class.reltuples); null when unknown. */
  rows_estimated: number | null;
  /** Rows per second since the copy of this table started. */
  rate: number;
}

/** Replica row operations a batch resolved to (a key changed twice in a batch counts once). */
export interface BatchCounts {
  upserted: number;
  deleted: number;
  truncated: number;
}

export interface BatchRecord {
  lastChangeId: string;
  changes: number;
  lagMs: number;
  /** Changes per table (display name). */
  perTable: Map<string, number>;
  counts?: BatchCounts;
  /** Captured operations the batch covered (what the application did), all tables together. */
  captured?: { inserts: number; updates: number; deletes: number; truncates: number };
  /** Wall time of the whole batch: read, apply, replica commit, acknowledgment. */
  durationMs?: number;
}

export interface StatusObserver {
  batch?(batch: BatchRecord): void;
  error?(code: string, message: string): void;
  initialCopy?(table: string, rowsDone: number): void;
}

export class ReplicationStatus {
  lastChangeId = '0';
  lastSyncTime: Date | null = null;
  recordsReplicated = 0;
  errorCount = 0;
  lastError: string | null = null;
  lastErrorCode: string | null = null;
  lastErrorTime: Date | null = null;
  state: ReplicationState = 'starting';
  lagMs: number | null = null;
  lastBatchLagMs: number | null = null;
  backlog: number | null = null;
  batches = 0;
  primaryReachable: boolean | null = null;
  replicaReachable: boolean | null = null;
  /** When the loop last finished an iteration without error (progress for /health). */
  lastHealthyAt: Date | null = null;
  readonly startedAt = new Date();
  /** Connections opened per database (reconnections included). */
  readonly connectionsOpened = { primary: 0, replica: 0 };
  /** Times the LISTEN connection was lost and opened again (set by the service). */
  listenReconnections: () => number = () => 0;
  /** The capture mode in use (set by the service once chosen). */
  captureMode: 'trigger' | 'logical' = 'trigger';
  /** Logical mode: the slot's retained WAL in bytes, as last read (set by the service). */
  retainedWalBytes: (() => number | null) | undefined;
  readonly tables = new Map<string, { changes: number; lastChangeTime: Date | null }>();
  readonly initialCopy = new Map<string, { rowsDone: number; rowsEstimated: number | null; startedAt: number; rate: number }>();
  /** Set by the continuous verifier (absent when it is off). */
  verify: VerifyStatus | undefined;
  private readonly observers: StatusObserver[] = [];

  /** Hears every batch, error and initial-copy update from now on. */
  observe(observer: StatusObserver): void {
    this.observers.push(observer);
  }

  recordBatch(batch: BatchRecord): void {
    this.lastChangeId = batch.lastChangeId;
    this.lastSyncTime = new Date();
    this.recordsReplicated += batch.changes;
    this.batches++;
    this.lagMs = batch.lagMs;
    if (batch.changes > 0) this.lastBatchLagMs = batch.lagMs;
    for (const [table, changes] of batch.perTable) {
      const entry = this.tables.get(table) ?? { changes: 0, lastChangeTime: null };
      entry.changes += changes;
      entry.lastChangeTime = this.lastSyncTime;
      this.tables.set(table, entry);
    }
    this.recordHealthy();
    this.notify((o) => o.batch?.(batch));
  }

  recordHealthy(): void {
    this.state = 'running';
    this.lastHealthyAt = new Date();
  }

  recordCaughtUp(): void {
    this.lagMs = 0;
    this.recordHealthy();
  }

  recordError(code: string, message: string): void {
    this.errorCount++;
    this.lastError = message;
    this.lastErrorCode = code;
    this.lastErrorTime = new Date();
    this.state = 'failing';
    this.notify((o) => o.error?.(code, message));
  }

  /** Progress of the initial copy of one table's existing rows (shown in /status, the dashboard and /metrics). */
  recordInitialCopy(table: string, rowsDone: number, rowsEstimated: number | null): void {
    const now = Date.now();
    const entry = this.initialCopy.get(table) ?? { rowsDone: 0, rowsEstimated, startedAt: now, rate: 0 };
    entry.rowsDone = rowsDone;
    entry.rowsEstimated = rowsEstimated;
    const seconds = (now - entry.startedAt) / 1000;
    entry.rate = seconds > 0 ? rowsDone / seconds : 0;
    this.initialCopy.set(table, entry);
    this.notify((o) => o.initialCopy?.(table, rowsDone));
  }

  /** An observer's failure (a metrics bug) must never stop replication. */
  private notify(call: (observer: StatusObserver) => void): void {
    for (const o of this.observers) {
      try {
        call(o);
      } catch {
        // ignored on purpose: see above
      }
    }
  }

  snapshot(): StatusSnapshot {
    const snapshot: StatusSnapshot = {
      last_lsn: this.lastChangeId,
      last_sync_time: this.lastSyncTime?.toISOString() ?? null,
      records_replicated: this.recordsReplicated,
      error_count: this.errorCount,
      last_error: this.lastError,
      is_running: this.state === 'running' || this.state === 'failing' || this.state === 'starting',
      state: this.state,
      lag_ms: this.lagMs,
      last_batch_lag_ms: this.lastBatchLagMs,
      backlog: this.backlog,
      batches: this.batches,
      last_error_code: this.lastErrorCode,
      last_error_time: this.lastErrorTime?.toISOString() ?? null,
      primary_reachable: this.primaryReachable,
      replica_reachable: this.replicaReachable,
      started_at: this.startedAt.toISOString(),
      tables: [...this.tables].map(([table, t]) => ({
        table,
        changes_replicated: t.changes,
        last_change_time: t.lastChangeTime?.toISOString() ?? null,
      })),
    };
    if (this.initialCopy.size > 0) {
      snapshot.initial_copy = [...this.initialCopy].map(([table, c]) => ({
        table,
        rows_done: c.rowsDone,
        rows_estimated: c.rowsEstimated,
        rate: Math.round(c.rate * 10) / 10,
      }));
    }
    if (this.verify) snapshot.verify = this.verify;
    snapshot.capture_mode = this.captureMode;
    if (this.retainedWalBytes) snapshot.retained_wal_bytes = this.retainedWalBytes();
    return snapshot;
  }
}
