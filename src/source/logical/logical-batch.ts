/**
 * Whole transactions, in commit order, as one Batch for the shared apply:
 * per table, the COPY lines of every transaction in order (after the last
 * TRUNCATE in the batch, which becomes the table's clear), streamed into the
 * replica's staging table, where each key's last line wins. A TRUNCATE of a
 * partition after that clears the replica's rows in the partition, and the
 * lines numbered before it whose row lies in the partition are dropped from
 * the staging table (StagedRows.truncatedBefore), so the lines after it are
 * what remains of the partition; one whose rows cannot be told
 * (partition-truncates.ts: null) clears nothing here, and the caller copies
 * the table afresh. The position
 * moves to the last transaction's end LSN (or to `atLeast`, a watermark the
 * batch reaches), in the same replica transaction.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { Batch, ChangeCounts, CopyChunk, TableBatch } from '../batch.js';
import type { ReplicaPosition } from '../position.js';
import type { LineSpool } from './line-spool.js';
import { formatLsn, type Lsn, maxLsn, parseLsn } from './lsn.js';
import type { PartitionTruncate, Transaction } from './transaction-assembler.js';

export function logicalBatch(
  from: ReplicaPosition,
  transactions: readonly Transaction[],
  copies: CopyChunk[],
  atLeast: Lsn = 0n,
  partitionClears: ReadonlyMap<PartitionTruncate, string | null> = new Map(),
): Batch {
  const parts = new Map<
    ReplicatedTable,
    {
      truncated: boolean;
      unchanged: boolean;
      spools: LineSpool[];
      partitions: { seq: number; condition: string }[];
      counts: ChangeCounts;
    }
  >();
  let changes = 0;
  let end = maxLsn(from.lsn ? parseLsn(from.lsn) : 0n, atLeast);
  let oldest = Number.POSITIVE_INFINITY;
  for (const tx of transactions) {
    changes += tx.changes;
    end = maxLsn(end, tx.endLsn);
    oldest = Math.min(oldest, tx.committedAt);
    for (const [table, c] of tx.tables) {
      let part = parts.get(table);
      if (!part) {
        part = {
          truncated: false,
          unchanged: false,
          spools: [],
          partitions: [],
          counts: { inserts: 0, updates: 0, deletes: 0, truncates: 0 },
        };
        parts.set(table, part);
      }
      if (c.truncated) {
        part.truncated = true;
        part.spools = [];
        part.partitions = [];
      }
      part.spools.push(c.lines);
      for (const t of c.partitions) {
        const condition = partitionClears.get(t);
        if (condition) part.partitions.push({ seq: t.seq, condition });
      }
      part.unchanged ||= c.unchanged;
      part.counts.inserts += c.counts.inserts;
      part.counts.updates += c.counts.updates;
      part.counts.deletes += c.counts.deletes;
      part.counts.truncates += c.counts.truncates;
    }
  }
  const tables: TableBatch[] = [...parts].map(([table, part]) => {
    const spools = part.spools.filter((s) => s.bytes > 0);
    const conditions = [...new Set(part.partitions.map((p) => p.condition))];
    return {
      table,
      clear: part.truncated ? 'all' : conditions.length > 0 ? conditions : null,
      counts: part.counts,
      rows:
        spools.length === 0
          ? null
          : {
              kind: 'staged',
              ordered: true,
              unchanged: part.unchanged,
              truncatedBefore: part.partitions,
              copyInto: (sink) =>
                pipeline(
                  Readable.from(
                    (async function* () {
                      for (const spool of spools) yield* spool.read();
                    })(),
                  ),
                  sink,
                ),
            },
    };
  });
  return {
    to: { snapshot: null, lsn: formatLsn(end), lastChangeId: from.lastChangeId, changes },
    tables,
    copies,
    copiesFirst: copies.length > 0,
    changes,
    oldestCapturedAt: oldest,
  };
}

/** Removes the spooled lines of transactions once their batch is over. */
export function discardTransactions(transactions: readonly Transaction[]): void {
  for (const tx of transactions) for (const c of tx.tables.values()) c.lines.discard();
}
