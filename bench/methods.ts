/**
 * The replication methods compared, as a list: every comparative workload runs
 * each in turn on fresh databases, and the report gives each a column. The
 * first is the yardstick the others' ratios are taken against.
 *
 * A method only ever sees tables that exist on both servers (created by the
 * benchmark with plain SQL) and is asked to replicate them the way its users
 * would: PostgreSQL's publication and subscription, or the `replicator`
 * command. pg-replicator's logical-decoding mode is one more entry:
 * oursMethod({ name: 'ours-logical', env: { CAPTURE_MODE: 'logical' }, listens: false }).
 */
import type { ReplicatorProcess, SpawnOptions } from './replicator-process.js';
import type { RunDatabases } from './servers.js';

export const METHOD_NAMES = ['native', 'ours', 'ours-logical'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];
/** Figures per method; a method left out (--methods) has none. */
export type PerMethod<T> = Partial<Record<MethodName, T>>;

export interface ReplicationRun {
  /** Settings in effect, for the results (native: the subscription's defaults). */
  settings?: Record<string, string | boolean>;
  /** The replicator's own process, when the method has one. */
  process?: ReplicatorProcess;
  stop(): Promise<void>;
  /** The replication's own account of its state, for a failure message. */
  diagnose(): Promise<string>;
}

export interface ReplicationMethod {
  name: MethodName;
  /** One line for the results: what runs and how. */
  describe(): string;
  /**
   * Installs only what makes the primary capture changes to `tables`, nothing
   * replicating: the capture-cost workload. Undefined when writes cost the
   * method nothing until it replicates (a publication alone writes nothing).
   */
  installCapture?(db: RunDatabases, tables: readonly string[], timeoutMs: number): Promise<void>;
  /**
   * Starts replicating `tables`, which exist on both servers (with rows on
   * the primary, or none); resolves once changes flow. The frame then waits
   * until the replica holds the tables' current rows.
   */
  start(db: RunDatabases, tables: readonly string[], timeoutMs: number, options?: SpawnOptions): Promise<ReplicationRun>;
}
