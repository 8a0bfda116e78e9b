/**
 * ReplicaPosition: where replication has reached, as the replica stores it
 * (apply/replica-position.ts reads and writes it) and every source reads
 * batches after: a trigger snapshot or a WAL position, naming its source.
 */
import type { SourceIdentity } from './source-identity.js';

export interface ReplicaPosition {
  /** Whether a position row exists (false before the first batch, or after a reset). */
  exists: boolean;
  source: SourceIdentity | null;
  /** Trigger mode: pg_snapshot (text) of the primary the replica equals. */
  snapshot: string | null;
  /** The snapshot before it: the last batch was the changes between the two. */
  previousSnapshot: string | null;
  /** Logical mode: end LSN of the last transaction applied. */
  lsn: string | null;
  lastChangeId: string;
  changesApplied: string;
  appliedAt: string | null;
}

/** Where a batch moves the position to. */
export interface PositionUpdate {
  snapshot: string | null;
  lsn: string | null;
  lastChangeId: string;
  changes: number;
}

export const EMPTY_POSITION: ReplicaPosition = {
  exists: false,
  source: null,
  snapshot: null,
  previousSnapshot: null,
  lsn: null,
  lastChangeId: '0',
  changesApplied: '0',
  appliedAt: null,
};

/** The position the replica holds after a batch from `from` to `to` committed. */
export function positionAfter(from: ReplicaPosition, to: PositionUpdate, source: SourceIdentity): ReplicaPosition {
  return {
    exists: true,
    source,
    snapshot: to.snapshot,
    previousSnapshot: from.snapshot,
    lsn: to.lsn,
    lastChangeId: BigInt(to.lastChangeId) > BigInt(from.lastChangeId) ? to.lastChangeId : from.lastChangeId,
    changesApplied: (BigInt(from.changesApplied) + BigInt(to.changes)).toString(),
    appliedAt: new Date().toISOString(),
  };
}
