/**
 * Tells the primary how far the replica has confirmed, only ever after the
 * replica commit that holds it, and off the replication path: the replica's
 * stored position, not the primary's record, decides what the next batch
 * reads, so an acknowledgment can lag, fail or be lost without any change
 * being skipped or applied twice. It records the replica's snapshot in
 * replicator.consumer (monitoring, and the backlog while the replica is
 * away) and marks a log's rows processed where the log has that column (the
 * demo's user_changes). Ranges not yet acknowledged are merged and retried
 * with the next batch; after a restart the last batch is acknowledged again.
 */
import type { Database } from '../../db/database.js';
import { quoteQualified } from '../../db/quote.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import { committedBetween } from './visibility.js';

export interface SnapshotRange {
  from: string | null;
  to: string;
}

export async function acknowledge(primary: Database, tables: readonly ReplicatedTable[], range: SnapshotRange): Promise<number> {
  let marked = 0;
  for (const table of tables.filter((t) => t.markProcessed)) {
    const { rowCount } = await primary.query(
      `UPDATE ${quoteQualified(table.log)} AS l SET processed = true
       WHERE NOT l.processed AND ${committedBetween('l.txid', "coalesce($1::pg_snapshot, '1:1:')", '$2::pg_snapshot')}`,
      [range.from, range.to],
    );
    marked += rowCount ?? 0;
  }
  await primary.query('UPDATE replicator.consumer SET acked_snapshot = $1::pg_snapshot, acked_at = pg_catalog.now()', [range.to]);
  return marked;
}

export class Acknowledger {
  private pending: { range: SnapshotRange; tables: readonly ReplicatedTable[] } | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly primary: Database,
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
        await acknowledge(this.primary, tables, range);
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
