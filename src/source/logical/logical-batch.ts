/**
 * Whole transactions, in commit order, as one Batch for the shared apply:
 * per table, the COPY lines of every transaction in order (after the last
 * TRUNCATE in the batch, which becomes the table's clear), streamed into the
 * replica's staging table, where each key's last line wins. The position
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
import type { Transaction } from './transaction-assembler.js';

export function logicalBatch(
  from: ReplicaPosition,
  transactions: readonly Transaction[],
  copies: CopyChunk[],
  atLeast: Lsn = 0n,
): Batch {
  const parts = new Map<ReplicatedTable, { truncated: boolean; unchanged: boolean; spools: LineSpool[]; counts: ChangeCounts }>();
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
        part = { truncated: false, unchanged: false, spools: [], counts: { inserts: 0, updates: 0, deletes: 0, truncates: 0 } };
        parts.set(table, part);
      }
      if (c.truncated) {
        part.truncated = true;
        part.spools = [];
      }
      part.spools.push(c.lines);
      part.unchanged ||= c.unchanged;
      part.counts.inserts += c.counts.inserts;
      part.counts.updates += c.counts.updates;
      part.counts.deletes += c.counts.deletes;
      part.counts.truncates += c.counts.truncates;
    }
  }
  const tables: TableBatch[] = [...parts].map(([table, part]) => {
    const spools = part.spools.filter((s) => s.bytes > 0);
    return {
      table,
      clear: part.truncated ? 'all' : null,
      counts: part.counts,
      rows:
        spools.length === 0
          ? null
          : {
              kind: 'staged',
              ordered: true,
              unchanged: part.unchanged,
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
