/**
 * Prometheus metrics for one service, in its own Registry (never prom-client's
 * global one), so several services can run in one process (the tests do).
 *
 * Counters and histograms are fed as things happen (the status observer);
 * gauges that mirror /status (lag, backlog, state, reachability) are read from
 * the status at scrape time, so /metrics and /status never disagree.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type { BatchRecord, ReplicationState, ReplicationStatus } from '../replication/replication-status.js';

export const METRIC_PREFIX = 'pg_replicator_';

const STATES: readonly ReplicationState[] = ['starting', 'running', 'failing', 'stopped'];
const OPERATIONS = ['upsert', 'delete', 'truncate'] as const;
/** The codes a replication attempt can fail with (the others belong to the CLI); INTERNAL is a bug. */
const LOOP_ERROR_CODES: ReadonlyArray<ErrorCode | 'INTERNAL'> = [
  'DATABASE_UNREACHABLE',
  'AUTH_FAILED',
  'SCHEMA_MISSING',
  'SCHEMA_MISMATCH',
  'CHANGE_REJECTED',
  'CHANGE_LOG_INVALID',
  'CAPTURE_BROKEN',
  'MIGRATION_REQUIRED',
  'SOURCE_MISMATCH',
  'INTERNAL',
];
/** Label for counts of a batch that touched several tables (the batch reports its counts as one total). */
export const SEVERAL_TABLES = '(several)';

export interface ReplicatorMetrics {
  readonly registry: Registry;
  /** Rows copied so far by the initial copy of `table` (pg_replicator_initial_copy_rows). */
  setInitialCopyRows(table: string, rows: number): void;
  /** The exposition text and its Content-Type, for GET /metrics. */
  render(): Promise<{ contentType: string; body: string }>;
}

/**
 * `tables`: tables known at start, whose series start at 0 (others appear with
 * their first batch or initial-copy update).
 */
export function createMetrics(status: ReplicationStatus, tables: readonly string[] = []): ReplicatorMetrics {
  const registry = new Registry();
  const name = (n: string) => `${METRIC_PREFIX}${n}`;
  const registers = [registry];

  const changesApplied = new Counter({
    name: name('changes_applied_total'),
    help: 'Row operations applied on the replica, by table and operation (upsert, delete, truncate); a key changed several times in one batch counts once',
    labelNames: ['table', 'operation'] as const,
    registers,
  });
  const changesReplicated = new Counter({
    name: name('changes_replicated_total'),
    help: 'Captured changes (rows of the change log) applied on the replica, by table; their sum is /status records_replicated',
    labelNames: ['table'] as const,
    registers,
  });
  const changesCaptured = new Counter({
    name: name('changes_captured_total'),
    help: 'Captured changes applied on the replica, by the operation the application made (insert, update, delete, truncate)',
    labelNames: ['operation'] as const,
    registers,
  });
  for (const operation of ['insert', 'update', 'delete', 'truncate']) changesCaptured.inc({ operation }, 0);
  const batches = new Counter({ name: name('batches_total'), help: 'Batches committed on the replica', registers });
  const batchChanges = new Histogram({
    name: name('batch_changes'),
    help: 'Captured changes per batch',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 50_000, 100_000],
    registers,
  });
  const applyDuration = new Histogram({
    name: name('apply_duration_seconds'),
    help: 'Wall time of a whole batch: read on the primary, apply and commit on the replica, acknowledge',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const batchLag = new Histogram({
    name: name('batch_lag_seconds'),
    help: "Replication lag of each batch: capture of its oldest change on the primary to the replica's commit",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
    registers,
  });
  const errors = new Counter({
    name: name('errors_total'),
    help: 'Failed replication attempts, by error code (each is retried with backoff); DATABASE_UNREACHABLE counts reconnection attempts',
    labelNames: ['code'] as const,
    registers,
  });
  const initialCopyRows = new Gauge({
    name: name('initial_copy_rows'),
    help: 'Rows copied so far by the initial copy of existing rows, by table',
    labelNames: ['table'] as const,
    registers,
  });

  new Gauge({
    name: name('lag_seconds'),
    help: 'Replication lag now: capture-to-replica-commit time of the oldest change in the last batch; 0 when caught up',
    registers,
    collect() {
      this.set(status.lagMs === null ? 0 : status.lagMs / 1000);
    },
  });
  new Gauge({
    name: name('backlog_changes'),
    help: 'Captured changes the replica does not hold yet (counted every 2 s)',
    registers,
    collect() {
      if (status.backlog !== null) this.set(status.backlog);
    },
  });
  new Gauge({
    name: name('state'),
    help: 'Replication state: 1 for the current one of starting, running, failing, stopped',
    labelNames: ['state'] as const,
    registers,
    collect() {
      for (const s of STATES) this.set({ state: s }, status.state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: name('database_up'),
    help: 'Whether the database answered the last health check (1) or not (0), by database (primary, replica)',
    labelNames: ['database'] as const,
    registers,
    collect() {
      if (status.primaryReachable !== null) this.set({ database: 'primary' }, status.primaryReachable ? 1 : 0);
      if (status.replicaReachable !== null) this.set({ database: 'replica' }, status.replicaReachable ? 1 : 0);
    },
  });
  new Counter({
    name: name('connections_opened_total'),
    help: 'Connections opened to each database (primary, replica); beyond the first few, each is a reconnection after a drop or an idle timeout',
    labelNames: ['database'] as const,
    registers,
    collect() {
      this.reset();
      this.inc({ database: 'primary' }, status.connectionsOpened.primary);
      this.inc({ database: 'replica' }, status.connectionsOpened.replica);
    },
  });
  new Counter({
    name: name('listen_reconnections_total'),
    help: 'Times the LISTEN connection to the primary was lost and opened again (polling covered the gap)',
    registers,
    collect() {
      this.reset();
      this.inc(status.listenReconnections());
    },
  });
  new Gauge({
    name: name('slot_retained_wal_bytes'),
    help: 'Logical mode: bytes of WAL the replication slot holds back on the primary (pg_current_wal_lsn() - confirmed_flush_lsn); alert well below max_slot_wal_keep_size',
    registers,
    collect() {
      this.reset();
      const bytes = status.retainedWalBytes?.();
      if (bytes !== undefined && bytes !== null) this.set(bytes);
    },
  });
  new Gauge({
    name: name('last_batch_timestamp_seconds'),
    help: 'Unix time of the last batch committed on the replica (0: none since start)',
    registers,
    collect() {
      this.set(status.lastSyncTime === null ? 0 : status.lastSyncTime.getTime() / 1000);
    },
  });

  // Continuous verification (absent when VERIFY_SHARE=0): read from /status's verify at scrape time.
  new Gauge({
    name: name('verify_divergent_rows'),
    help: 'Rows continuous verification confirmed to differ between primary and replica, by table (a lower bound when more than 1,000)',
    labelNames: ['table'] as const,
    registers,
    collect() {
      this.reset();
      for (const t of status.verify?.tables ?? []) this.set({ table: t.table }, t.divergent_rows);
    },
  });
  new Gauge({
    name: name('verify_last_full_pass_timestamp_seconds'),
    help: 'Unix time at which continuous verification last finished comparing the whole table, by table (0: not yet)',
    labelNames: ['table'] as const,
    registers,
    collect() {
      this.reset();
      for (const t of status.verify?.tables ?? [])
        this.set({ table: t.table }, t.last_full_pass === null ? 0 : Date.parse(t.last_full_pass) / 1000);
    },
  });
  new Counter({
    name: name('verify_work_seconds_total'),
    help: 'Time continuous verification spent working (its rate is the share of time it takes, at most VERIFY_SHARE)',
    registers,
    collect() {
      this.reset();
      if (status.verify) this.inc(status.verify.work_seconds);
    },
  });

  // Every series exists from the start, so rate() and increase() see the first event.
  for (const table of tables) {
    for (const operation of OPERATIONS) changesApplied.inc({ table, operation }, 0);
    changesReplicated.inc({ table }, 0);
    initialCopyRows.set({ table }, 0);
  }
  for (const code of LOOP_ERROR_CODES) errors.inc({ code }, 0);

  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });

  const recordBatch = (batch: BatchRecord) => {
    batches.inc();
    batchChanges.observe(batch.changes);
    // A batch that only carried an initial-copy chunk has no change, hence no lag.
    if (batch.changes > 0) batchLag.observe(batch.lagMs / 1000);
    if (batch.durationMs !== undefined) applyDuration.observe(batch.durationMs / 1000);
    for (const [table, n] of batch.perTable) changesReplicated.inc({ table }, n);
    if (batch.captured) {
      changesCaptured.inc({ operation: 'insert' }, batch.captured.inserts);
      changesCaptured.inc({ operation: 'update' }, batch.captured.updates);
      changesCaptured.inc({ operation: 'delete' }, batch.captured.deletes);
      changesCaptured.inc({ operation: 'truncate' }, batch.captured.truncates);
    }
    if (batch.counts) {
      const only = batch.perTable.size === 1 ? [...batch.perTable.keys()][0] : undefined;
      const table = only ?? SEVERAL_TABLES;
      changesApplied.inc({ table, operation: 'upsert' }, batch.counts.upserted);
      changesApplied.inc({ table, operation: 'delete' }, batch.counts.deleted);
      changesApplied.inc({ table, operation: 'truncate' }, batch.counts.truncated);
    }
  };

  status.observe({
    batch: recordBatch,
    error: (code) => errors.inc({ code }),
    initialCopy: (table, rows) => initialCopyRows.set({ table }, rows),
  });

  return {
    registry,
    setInitialCopyRows: (table, rows) => initialCopyRows.set({ table }, rows),
    render: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
