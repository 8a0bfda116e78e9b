/**
 * A batch the long way: a REPEATABLE READ, READ ONLY transaction on the
 * primary whose snapshot is the batch's end, held open while the replica
 * applies it. Each table's changed rows are streamed (COPY) straight into a
 * staging table in the replica's transaction, so memory stays flat however
 * large the batch; the initial-copy chunks of this batch are read in the
 * same snapshot. TRUNCATEs become clears: of the whole table, or of a
 * partition's rows by its partition constraint; a partition whose rows
 * cannot be told apart that way (hash partitioning, or dropped since) makes
 * the table ask for a full copy instead.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { lockBeforeSnapshot } from '../../db/lock-before-snapshot.js';
import { type QualifiedName, quoteIdent } from '../../db/quote.js';
import { SET_LOCAL } from '../../db/session-settings.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { Batch, ChangeCounts, CopyChunk, TableBatch } from '../batch.js';
import type { ReplicaPosition } from '../position.js';
import { changedKeys, changeStats, logChanges, rowPresent, withRows } from './changed-rows.js';
import { SNAPSHOT_AND_FINGERPRINT } from './read-inline-batch.js';

export interface StagedRead {
  snapshot: string;
  fingerprint: string;
  /** Tables whose TRUNCATE of a partition cannot be replayed row by row: ask for a full copy of each. */
  resync: ReplicatedTable[];
  batch: Batch;
}

const FROM = "pg_catalog.current_setting('replicator.batch_from')::pg_snapshot";
const TO = 'pg_catalog.pg_current_snapshot()';

/**
 * Opens the primary's side of the batch on `client` (kept until the caller
 * ends it with COMMIT). `tables`: every table the batch reads, its change
 * logs aside, locked before the snapshot is taken (lock-before-snapshot.ts).
 */
export async function beginStagedBatch(
  client: pg.ClientBase,
  from: ReplicaPosition,
  tables: readonly QualifiedName[],
): Promise<{ snapshot: string; fingerprint: string }> {
  const lock = lockBeforeSnapshot(tables);
  await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; ${SET_LOCAL}${lock ? `; ${lock}` : ''}`);
  // A parameter, never SQL text: the stored snapshot comes from the replica.
  // No stored snapshot (a new replica): every change in the log counts; the tables are copied too.
  await client.query("SELECT pg_catalog.set_config('replicator.batch_from', $1, true)", [from.snapshot ?? '1:1:']);
  const { rows } = await client.query<{ snap: string; fingerprint: string }>(SNAPSHOT_AND_FINGERPRINT);
  const row = rows[0] as { snap: string; fingerprint: string };
  return { snapshot: row.snap, fingerprint: row.fingerprint };
}

interface Stats extends ChangeCounts {
  last_change_id: string | null;
  first_captured_at: string | null;
  truncated: string[] | null;
}

/**
 * The batch's changes, read inside beginStagedBatch's transaction. With no
 * stored snapshot (a replica without a position) every change the log holds
 * counts, and every table is copied afresh in the same snapshot.
 */
export async function readStagedBatch(
  client: pg.ClientBase,
  tables: readonly ReplicatedTable[],
  from: ReplicaPosition,
  start: { snapshot: string; fingerprint: string },
  copies: CopyChunk[],
): Promise<StagedRead> {
  const parts: TableBatch[] = [];
  const resync: ReplicatedTable[] = [];
  let changes = 0;
  let lastChangeId = BigInt(from.lastChangeId);
  let oldestCapturedAt = Number.POSITIVE_INFINITY;
  for (const table of tables) {
    const { rows } = await client.query<Stats>(changeStats(`(${logChanges(table, FROM, TO)})`));
    const stats = rows[0] as Stats;
    const counts = { inserts: stats.inserts, updates: stats.updates, deletes: stats.deletes, truncates: stats.truncates };
    const n = counts.inserts + counts.updates + counts.deletes + counts.truncates;
    if (n === 0) continue;
    changes += n;
    if (stats.last_change_id && BigInt(stats.last_change_id) > lastChangeId) lastChangeId = BigInt(stats.last_change_id);
    oldestCapturedAt = Math.min(oldestCapturedAt, Number(stats.first_captured_at));
    const clear = await clearFor(client, table, stats.truncated ?? []);
    if (clear === 'resync') resync.push(table);
    parts.push({
      table,
      clear: clear === 'resync' ? null : clear,
      counts,
      rows:
        counts.inserts + counts.updates + counts.deletes > 0
          ? { kind: 'staged', copyInto: (sink) => streamRows(client, table, sink) }
          : null,
    });
  }
  return {
    ...start,
    resync,
    batch: {
      to: { snapshot: start.snapshot, lsn: null, lastChangeId: lastChangeId.toString(), changes },
      tables: parts,
      copies,
      changes,
      oldestCapturedAt,
    },
  };
}

/** What a batch's TRUNCATEs clear on the replica: all (the table itself), partitions' rows, or nothing knowable. */
async function clearFor(
  client: pg.ClientBase,
  table: ReplicatedTable,
  truncated: readonly string[],
): Promise<TableBatch['clear'] | 'resync'> {
  if (truncated.length === 0) return null;
  if (truncated.includes(String(table.relid))) return 'all';
  const { rows } = await client.query<{ condition: string | null }>(
    'SELECT pg_catalog.pg_get_partition_constraintdef(p::oid) AS condition FROM pg_catalog.unnest($1::int8[]) AS p',
    [truncated],
  );
  const conditions = rows.map((r) => r.condition);
  if (conditions.some((c) => c === null || c.includes('satisfies_hash_partition'))) return 'resync';
  return conditions as string[];
}

/** COPY lines of the upsert flag and the replicated columns (a gone row: its key and NULLs), streamed into `sink`. */
async function streamRows(client: pg.ClientBase, table: ReplicatedTable, sink: Writable): Promise<void> {
  const keyIndex = new Map(table.keyColumns.map((k, i) => [k, i]));
  const columns = table.columns.map((c) => {
    const i = keyIndex.get(c.name);
    const value = `t.${quoteIdent(c.name)}`;
    return i === undefined ? value : `coalesce(${value}, k.${quoteIdent(table.logKeyColumns[i] as string)})`;
  });
  const keys = `(${changedKeys(table, `(${logChanges(table, FROM, TO)})`)})`;
  const sql = `COPY (SELECT ${rowPresent(table)}, ${columns.join(', ')} FROM ${withRows(table, keys)}) TO STDOUT`;
  await pipeline(client.query(copyTo(sql)), sink);
}
