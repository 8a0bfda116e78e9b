/**
 * The boundary between the sources and the apply: a Batch is one or more
 * whole primary transactions, as the replica must end up after them. Every
 * source (the trigger change logs today, the WAL later) produces it; the
 * apply never asks which one made it.
 *
 * Rows stay PostgreSQL text end to end: either inline, as array literals the
 * replica parses with its own input functions, or streamed in COPY text
 * format into a staging table on the replica, in the replica's transaction,
 * so a batch larger than memory never sits in the process.
 */
import type { Writable } from 'node:stream';
import type { QualifiedName } from '../db/quote.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import type { PositionUpdate } from './position.js';

export interface ChangeCounts {
  inserts: number;
  updates: number;
  deletes: number;
  truncates: number;
}

/**
 * Rows carried in the batch: upserts as one `<replica table>[]` literal (the
 * replica's row type, attribute order of TableModel.replicaRow); deleted keys
 * as one `<key type>[]` literal per key column, in the same order.
 */
export interface InlineRows {
  kind: 'inline';
  upserts: string | null;
  upsertCount: number;
  deleteKeys: string[] | null;
  deleteCount: number;
}

/**
 * Rows streamed into a staging table (tables/staging-table.ts): COPY text
 * lines of the upsert flag and the replicated columns; a deleted key's line
 * has its key columns and NULLs.
 */
export interface StagedRows {
  kind: 'staged';
  /**
   * Lines carry a leading sequence number and may name a key more than once
   * (a change log replayed in order, as the WAL source sends it): for each
   * key the line with the highest number is the one that counts.
   */
  ordered?: boolean;
  /** Ordered lines may leave values out as unchanged (a TOASTed value an UPDATE did not repeat): the replica fills them in. */
  unchanged?: boolean;
  /**
   * Ordered lines only: TRUNCATEs of partitions among the lines. A line
   * numbered below `seq` whose row meets `condition` (the partition's
   * constraint, SQL over the table's columns) was removed by it: the replica
   * drops it before the apply (the table's `clear` holds the condition too).
   */
  truncatedBefore?: { seq: number; condition: string }[];
  /**
   * Ordered lines that name each key once (equal under the key type's `=`
   * exactly when their text is equal): every line is its key's last, and
   * the replica need not sort them to find it.
   */
  distinctKeys?: boolean;
  /** copyInto may be called again after a call that failed (the lines are kept, not read once from a cursor). */
  repeatable?: boolean;
  copyInto(sink: Writable): Promise<void>;
}

export interface TableBatch {
  table: ReplicatedTable;
  /**
   * Replica rows to remove before `rows` are applied: every row (a TRUNCATE
   * of the table), or those matching these conditions (TRUNCATEs of
   * partitions: each a partition's constraint, as SQL over the table's columns).
   */
  clear: 'all' | string[] | null;
  rows: InlineRows | StagedRows | null;
  counts: ChangeCounts;
}

/** How far the initial copy of a table has come (kept on the replica; see initial-copy/). */
export interface CopyProgress {
  table: QualifiedName;
  /** The primary's copy_requested_at this copy serves. */
  requestedAt: string;
  /** JSON object of the last copied key; null before the first chunk. */
  lastKey: string | null;
  rowsCopied: number;
  rowsEstimated: number | null;
  done: boolean;
}

/** One chunk of a table's existing rows (initial copy), as of the batch's snapshot. */
export interface CopyChunk {
  table: ReplicatedTable;
  /** The first chunk of a copy: empty the replica's table before it. */
  fresh: boolean;
  copyInto(sink: Writable): Promise<void>;
  /** Progress before this chunk. */
  start: CopyProgress;
  /** The chunk's last key (JSON object); null: the chunk runs to the end of the table. */
  until: string | null;
  /** Rows per chunk: a chunk with fewer is the last. */
  chunkRows: number;
}

/** Progress once a chunk of `copied` rows is in. */
export function progressAfter(chunk: CopyChunk, copied: number): CopyProgress {
  return {
    ...chunk.start,
    lastKey: chunk.until ?? chunk.start.lastKey,
    rowsCopied: chunk.start.rowsCopied + copied,
    done: chunk.until === null || copied < chunk.chunkRows,
  };
}

export interface Batch {
  /** Where the replica's position moves, in the same transaction as the rows. */
  to: PositionUpdate;
  tables: TableBatch[];
  copies: CopyChunk[];
  /**
   * The copy chunks are an earlier state than the batch's changes (the WAL
   * source reads a chunk in a snapshot inside the batch's range): apply them
   * before any clear, delete or upsert, so the changes land on top.
   */
  copiesFirst?: boolean;
  /** Captured changes the batch covers. */
  changes: number;
  /** Capture time of the oldest change (ms since epoch, primary clock); Infinity when none. */
  oldestCapturedAt: number;
}

/** Every row of the batch travels inline (no staging, no copy, no clear): it can be one statement. */
export function isInline(batch: Batch): boolean {
  return batch.copies.length === 0 && batch.tables.every((t) => t.clear === null && t.rows?.kind !== 'staged');
}
