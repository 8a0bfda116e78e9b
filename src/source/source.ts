/**
 * What the replication loop asks of a source of changes (the trigger change
 * logs today, the WAL later): the next Batch after a position, a way to wait
 * for more, and what to do once the replica committed. Everything that
 * differs between sources is behind this interface; the apply and the loop
 * never ask which one made a batch.
 */
import type { RegistryEntry } from '../tables/registry.js';
import type { ReplicatedTable, TableDescription } from '../tables/table-model.js';
import type { Batch, CopyProgress } from './batch.js';
import type { ReplicaPosition } from './position.js';
import type { SourceIdentity } from './source-identity.js';

/** What the loop prepared: the tables as both sides agree on them, and the copies still to make. */
export interface PreparedTables {
  tables: readonly ReplicatedTable[];
  /** The primary's schema fingerprint these descriptions were made from. */
  fingerprint: string;
  /** Whether the replica session may set session_replication_role = replica. */
  replicationRole: boolean;
  /** Tables whose initial copy is not finished; `fresh` ones start from an emptied replica table. */
  copies: Map<ReplicatedTable, { progress: CopyProgress; fresh: boolean }>;
  source: SourceIdentity;
}

/** A batch, and the source's side of it (a primary transaction) to end once the replica committed or failed. */
export interface SourceBatch {
  batch: Batch;
  release(): Promise<void>;
}

export type NextBatch = SourceBatch | { empty: true; snapshot: string } | 'schema-changed';

export interface Source {
  readonly mode: SourceIdentity['mode'];
  /** The source's own checks of one table at prepare time (its capture, its partitions). */
  checkTable(entry: RegistryEntry, description: TableDescription | null): Promise<void>;
  /** The next batch after `from`, or nothing new as of `snapshot`, or a schema change to prepare for. */
  next(prepared: PreparedTables, from: ReplicaPosition): Promise<NextBatch>;
  /** After an empty read: until there may be more. */
  wait(snapshot: string): Promise<void>;
  /** After a non-empty batch: read again at once. */
  busy(): void;
  /** The replica committed `batch` (moving from `from`): tell the primary, in the background. */
  committed(prepared: PreparedTables, from: ReplicaPosition, batch: Batch): void;
  /** After a start or a failure: what the replica already holds may not have been confirmed. */
  recovered(prepared: PreparedTables, position: ReplicaPosition): Promise<void>;
  /**
   * A read, an apply or a database failed (`error`): whatever the source read
   * and the replica did not commit is offered again by the next next(), never
   * skipped; and a source holding the primary (a stream) lets go of it when
   * the primary is the cause, so a primary shutting down is not held up.
   */
  failed(error: unknown): Promise<void>;
  /**
   * Now and then: drop what the replica holds and the retention allows, once
   * `replicaDurable` says the replica's commits up to `position` are on disk.
   */
  housekeeping(prepared: PreparedTables, position: ReplicaPosition, replicaDurable: () => Promise<boolean>): Promise<void>;
  /** Wakes a wait at once (shutdown). */
  wake(): void;
  stop(): Promise<void>;
}
