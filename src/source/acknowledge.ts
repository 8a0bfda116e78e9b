/**
 * Marks changes processed on the primary, only ever after the replica commit
 * that holds them, and off the replication path: the replica's stored
 * position, not `processed`, is what decides what the next batch reads, so an
 * acknowledgment can lag, fail or be lost without any change being skipped or
 * applied twice. Ranges not yet acknowledged are merged and retried with the
 * next batch; after a restart the last batch's range is acknowledged again.
 */
import type pg from 'pg';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';
import type { SnapshotRange } from './read-changes.js';

// The same transaction-id range a batch is read with; the changes visible in
// the replica's snapshot are exactly the ones it holds.
const ACKNOWLEDGE = (log: string) => `
  UPDATE ${log} SET processed = true
  WHERE txid >= coalesce(pg_snapshot_xmin($1::pg_snapshot), '0'::xid8)
    AND txid < pg_snapshot_xmax($2::pg_snapshot)
    AND NOT processed AND pg_visible_in_snapshot(txid, $2::pg_snapshot)`;

export async function acknowledge(
  primary: pg.Pool | pg.ClientBase,
  table: ReplicatedTable,
  range: SnapshotRange,
): Promise<number> {
  const { rowCount } = await primary.query(ACKNOWLEDGE(quoteQualified(table.log)), [range.from, range.to]);
  return rowCount ?? 0;
}

export class Acknowledger {
  private pending: { range: SnapshotRange; tables: readonly ReplicatedTable[] } | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly primary: pg.Pool,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues the range a committed batch covered; runs in the background. */
  add(tables: readonly ReplicatedTable[], range: SnapshotRange): void {
    const from = this.pending ? this.pending.range.from : range.from;
    this.pending = { range: { from, to: range.to }, tables };
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for queued acknowledgments (at shutdown). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending) {
      const { range, tables } = this.pending;
      this.pending = undefined;
      try {
        for (const table of tables) await acknowledge(this.primary, table, range);
      } catch (error) {
        // Keep the range for the next batch to retry, merged with its own.
        const later = this.pending as { range: SnapshotRange; tables: readonly ReplicatedTable[] } | undefined;
        this.pending = later ? { tables: later.tables, range: { from: range.from, to: later.range.to } } : { range, tables };
        this.onError(error);
        return;
      }
    }
  }
}
