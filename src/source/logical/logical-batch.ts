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
 *
 * The usual table share goes inline instead (each key's final state reduced
 * here, inline-final-rows.ts), so a batch of only such shares is one
 * autocommit statement: when `inline` limits are given (no copy chunks),
 * and the table was not truncated, no line leaves a value out as unchanged,
 * every line is in memory, the lines and their bytes are within the limits
 * (trigger mode's inline threshold), and its keys' text is their equality
 * (tables/key-text-canonical.ts). Any other share stays staged; when it is
 * one transaction's lines and each names another key (canonical keys only,
 * see transaction-assembler.ts), the replica need not sort them.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { keyTextIsCanonical } from '../../tables/key-text-canonical.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { Batch, ChangeCounts, CopyChunk, InlineRows, TableBatch } from '../batch.js';
import type { ReplicaPosition } from '../position.js';
import { inlineFinalRows } from './inline-final-rows.js';
import type { LineSpool } from './line-spool.js';
import { formatLsn, type Lsn, maxLsn, parseLsn } from './lsn.js';
import type { PartitionTruncate, TableChanges, Transaction } from './transaction-assembler.js';

export function logicalBatch(
  from: ReplicaPosition,
  transactions: readonly Transaction[],
  copies: CopyChunk[],
  atLeast: Lsn = 0n,
  partitionClears: ReadonlyMap<PartitionTruncate, string | null> = new Map(),
  inline: { rows: number; bytes: number } | null = null,
): Batch {
  const parts = new Map<
    ReplicatedTable,
    {
      truncated: boolean;
      unchanged: boolean;
      shares: TableChanges[];
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
          shares: [],
          partitions: [],
          counts: { inserts: 0, updates: 0, deletes: 0, truncates: 0 },
        };
        parts.set(table, part);
      }
      if (c.truncated) {
        part.truncated = true;
        part.shares = [];
        part.partitions = [];
      }
      part.shares.push(c);
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
    const shares = part.shares.filter((s) => s.lines.bytes > 0);
    const spools = shares.map((s) => s.lines);
    const conditions = [...new Set(part.partitions.map((p) => p.condition))];
    // A partition's TRUNCATE among the lines is applied on the staging table: never inline.
    const truncatedHere = part.truncated || part.shares.some((s) => s.partitions.length > 0);
    const inlined = inline && copies.length === 0 && !truncatedHere ? inlineShare(table, part.unchanged, spools, inline) : null;
    return {
      table,
      clear: part.truncated ? 'all' : conditions.length > 0 ? conditions : null,
      counts: part.counts,
      rows:
        spools.length === 0
          ? null
          : (inlined ?? {
              kind: 'staged',
              ordered: true,
              unchanged: part.unchanged,
              truncatedBefore: part.partitions,
              // One transaction's lines, each naming another key: no sort on the replica.
              distinctKeys: !part.unchanged && shares.length === 1 && shares[0]?.distinctKeys === true,
              repeatable: true,
              copyInto: (sink) =>
                pipeline(
                  Readable.from(
                    (async function* () {
                      for (const spool of spools) yield* spool.read();
                    })(),
                  ),
                  sink,
                ),
            }),
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

function inlineShare(
  table: ReplicatedTable,
  unchanged: boolean,
  spools: readonly LineSpool[],
  limits: { rows: number; bytes: number },
): InlineRows | null {
  if (unchanged || spools.length === 0 || !keyTextIsCanonical(table)) return null;
  let lines = 0;
  let bytes = 0;
  const chunks: (readonly string[])[] = [];
  for (const spool of spools) {
    const held = spool.inMemory();
    if (!held) return null;
    chunks.push(held);
    lines += spool.count;
    bytes += spool.bytes;
  }
  if (lines > limits.rows || bytes > limits.bytes) return null;
  return inlineFinalRows(table, chunks);
}

/** Removes the spooled lines of transactions once their batch is over. */
export function discardTransactions(transactions: readonly Transaction[]): void {
  for (const tx of transactions) for (const c of tx.tables.values()) c.lines.discard();
}
