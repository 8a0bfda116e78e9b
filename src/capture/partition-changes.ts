/**
 * Rows that enter or leave a partitioned table without a statement the
 * capture sees: a partition attached with rows, or detached, or dropped.
 * The replica keeps the set of partitions the replicator last saw
 * (replicator.partitions); when the primary's set differs by more than new
 * empty partitions, the table is copied afresh (its replica table emptied
 * and refilled while changes keep flowing), so the replica never keeps rows
 * the primary no longer has, nor lacks rows it gained this way. The new set
 * is recorded only after the copy was asked for: a crash in between asks
 * again, never forgets.
 */
import type { Queryable } from '../db/database.js';
import { quoteQualified } from '../db/quote.js';
import type { RegistryEntry } from '../tables/registry.js';

export interface PartitionChange {
  /** The table must be copied afresh. */
  copy: boolean;
  /** What changed, for the log. */
  detail: string;
  /** Records the primary's current set on the replica. */
  record(): Promise<void>;
}

/** Null when the set is as recorded (or recorded now for the first time). */
export async function partitionChange(
  primary: Queryable,
  replica: Queryable,
  entry: RegistryEntry,
): Promise<PartitionChange | null> {
  const { rows } = await primary.query<{ leaf: string }>(
    'SELECT p.relid::int8::text AS leaf FROM pg_catalog.pg_partition_tree($1::oid::regclass) AS p WHERE p.isleaf',
    [entry.relid],
  );
  const current = rows.map((r) => r.leaf);
  const stored = await replica.query<{ leaves: string[] }>(
    'SELECT leaves::int8[]::text[] AS leaves FROM replicator.partitions WHERE table_schema = $1 AND table_name = $2',
    [entry.table.schema, entry.table.name],
  );
  const record = async () => {
    await replica.query(
      `INSERT INTO replicator.partitions (table_schema, table_name, leaves) VALUES ($1, $2, $3::int8[]::oid[])
       ON CONFLICT (table_schema, table_name) DO UPDATE SET leaves = EXCLUDED.leaves`,
      [entry.table.schema, entry.table.name, current],
    );
  };
  const known = stored.rows[0]?.leaves;
  if (!known) {
    await record();
    return null;
  }
  const removed = known.filter((l) => !current.includes(l));
  const added = current.filter((l) => !known.includes(l));
  if (removed.length === 0 && added.length === 0) return null;
  const withRows = await countWithRows(primary, entry, added);
  return {
    copy: removed.length > 0 || withRows > 0,
    detail: `${added.length} partition(s) attached or created (${withRows} holding rows), ${removed.length} detached or dropped`,
    record,
  };
}

/** How many of `leaves` hold rows, looked at through the root (the replicator may read it, not necessarily its partitions). */
async function countWithRows(primary: Queryable, entry: RegistryEntry, leaves: readonly string[]): Promise<number> {
  let n = 0;
  for (const leaf of leaves) {
    const { rows } = await primary.query<{ has: boolean }>(
      `SELECT EXISTS (SELECT FROM ${quoteQualified(entry.table)} AS t WHERE t.tableoid = $1::oid) AS has`,
      [leaf],
    );
    if (rows[0]?.has) n++;
  }
  return n;
}
