/**
 * What the service reports about itself. The first six fields are the Go
 * demo's /status, with its names and types; the rest are ours.
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
  /** Captured changes the replica does not hold yet. */
  backlog: number | null;
  batches: number;
  last_error_code: string | null;
  last_error_time: string | null;
  primary_reachable: boolean | null;
  replica_reachable: boolean | null;
  started_at: string;
  tables: TableStatus[];
}

export interface TableStatus {
  table: string;
  changes_replicated: number;
  last_change_time: string | null;
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
  backlog: number | null = null;
  batches = 0;
  primaryReachable: boolean | null = null;
  replicaReachable: boolean | null = null;
  /** When the loop last finished an iteration without error (progress for /health). */
  lastHealthyAt: Date | null = null;
  readonly startedAt = new Date();
  readonly tables = new Map<string, { changes: number; lastChangeTime: Date | null }>();

  recordBatch(batch: { lastChangeId: string; changes: number; lagMs: number; perTable: Map<string, number> }): void {
    this.lastChangeId = batch.lastChangeId;
    this.lastSyncTime = new Date();
    this.recordsReplicated += batch.changes;
    this.batches++;
    this.lagMs = batch.lagMs;
    for (const [table, changes] of batch.perTable) {
      const entry = this.tables.get(table) ?? { changes: 0, lastChangeTime: null };
      entry.changes += changes;
      entry.lastChangeTime = this.lastSyncTime;
      this.tables.set(table, entry);
    }
    this.recordHealthy();
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
  }

  snapshot(): StatusSnapshot {
    return {
      last_lsn: this.lastChangeId,
      last_sync_time: this.lastSyncTime?.toISOString() ?? null,
      records_replicated: this.recordsReplicated,
      error_count: this.errorCount,
      last_error: this.lastError,
      is_running: this.state === 'running' || this.state === 'failing' || this.state === 'starting',
      state: this.state,
      lag_ms: this.lagMs,
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
  }
}
