/**
 * The usual batch in one round trip: a single statement takes the snapshot,
 * the schema fingerprint and, for every table, its changes since the
 * replica's snapshot, each changed key's row as of the new snapshot (as a
 * record of the replica's row type) or its key when the row is gone. In READ
 * COMMITTED one statement runs on one snapshot and pg_current_snapshot() is
 * that snapshot, so the rows are exactly the primary's state there.
 *
 * Memory is bounded by rows and bytes: past `rows` keys or `bytes` of row
 * text in a table (or with a TRUNCATE, which needs a transaction), the result
 * says overflow, carries no rows, and the caller reads the batch the long way
 * (read-staged-batch.ts), streaming.
 */

import type { Database } from '../../db/database.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { Batch, TableBatch } from '../batch.js';
import type { ReplicaPosition } from '../position.js';
import { changedKeys, changeStats, logChanges, logKey, rowPresent, rowRecord, withRows } from './changed-rows.js';

export interface InlineRead {
  snapshot: string;
  fingerprint: string;
  /** Null: nothing committed since `from`, or overflow. */
  batch: Batch | null;
  overflow: boolean;
}

export interface BatchLimits {
  rows: number;
  bytes: number;
}

interface Row {
  snapshot: string;
  fingerprint: string;
  t: number | null;
  inserts: number;
  updates: number;
  deletes: number;
  truncates: number;
  last_change_id: string;
  first_captured_at: string;
  upsert_count: number;
  delete_count: number;
  overflow: boolean;
  upserts: string | null;
  delete_keys: Array<string | null>;
}

export const SNAPSHOT_AND_FINGERPRINT = `SELECT pg_catalog.pg_current_snapshot() AS snap,
  (SELECT f.fingerprint FROM replicator.schema_fingerprint f) AS fingerprint`;

function tableQuery(table: ReplicatedTable, i: number): string {
  const keys = table.keyColumns.map((_, j) => `${logKey(table, j)} AS k${j}`).join(', ');
  const deleteKeys = table.keyColumns.map((_, j) => `(pg_catalog.array_agg(r.k${j}) FILTER (WHERE NOT r.up))::text`).join(', ');
  return `
  c${i} AS MATERIALIZED (${logChanges(table, '$1::pg_snapshot', '(SELECT s.snap FROM s)')}),
  k${i} AS MATERIALIZED (${changedKeys(table, `c${i}`)} LIMIT $2 + 1),
  a${i} AS (
    SELECT ${i} AS t, st.*, rw.*
    FROM (${changeStats(`c${i}`)}) AS st,
    LATERAL (
      SELECT pg_catalog.count(*) FILTER (WHERE r.up)::int AS upsert_count,
             pg_catalog.count(*) FILTER (WHERE NOT r.up)::int AS delete_count,
             pg_catalog.count(*) > $2 OR coalesce(pg_catalog.max(r.total), 0) > $3 AS overflow,
             (pg_catalog.array_agg(r.rec) FILTER (WHERE r.up AND r.total <= $3))::text AS upserts,
             ARRAY[${deleteKeys}] AS delete_keys
      FROM (SELECT x.*, pg_catalog.sum(pg_catalog.octet_length(x.rec)) OVER (ROWS UNBOUNDED PRECEDING) AS total
            FROM (SELECT ${rowPresent(table)} AS up, CASE WHEN ${rowPresent(table)} THEN ${rowRecord(table)} ELSE '' END AS rec,
                         ${keys}
                  FROM ${withRows(table, `k${i}`)}) AS x) AS r
    ) AS rw
    WHERE st.inserts + st.updates + st.deletes + st.truncates > 0)`;
}

const statements = new WeakMap<readonly ReplicatedTable[], string>();

function batchStatement(tables: readonly ReplicatedTable[]): string {
  const cached = statements.get(tables);
  if (cached) return cached;
  const parts = tables.map(tableQuery);
  const union = tables.map((_, i) => `SELECT * FROM a${i}`).join(' UNION ALL ');
  const sql =
    tables.length === 0
      ? `WITH s AS MATERIALIZED (${SNAPSHOT_AND_FINGERPRINT}) SELECT s.snap::text AS snapshot, s.fingerprint, NULL::int AS t FROM s`
      : `WITH s AS MATERIALIZED (${SNAPSHOT_AND_FINGERPRINT}),${parts.join(',')}
    SELECT s.snap::text AS snapshot, s.fingerprint, a.* FROM s LEFT JOIN (${union}) AS a ON true`;
  statements.set(tables, sql);
  return sql;
}

export async function readInlineBatch(
  primary: Database,
  tables: readonly ReplicatedTable[],
  from: ReplicaPosition & { snapshot: string },
  limits: BatchLimits,
): Promise<InlineRead> {
  const { rows } = await primary.query<Row>(
    batchStatement(tables),
    tables.length === 0 ? [] : [from.snapshot, limits.rows, limits.bytes],
  );
  const first = rows[0] as Row;
  const read: InlineRead = { snapshot: first.snapshot, fingerprint: first.fingerprint, batch: null, overflow: false };
  const parts: TableBatch[] = [];
  let changes = 0;
  let lastChangeId = BigInt(from.lastChangeId);
  let oldestCapturedAt = Number.POSITIVE_INFINITY;
  for (const row of rows) {
    if (row.t === null) continue;
    if (row.overflow || row.truncates > 0) return { ...read, overflow: true };
    const table = tables[row.t] as ReplicatedTable;
    const counts = { inserts: row.inserts, updates: row.updates, deletes: row.deletes, truncates: row.truncates };
    changes += counts.inserts + counts.updates + counts.deletes + counts.truncates;
    if (BigInt(row.last_change_id) > lastChangeId) lastChangeId = BigInt(row.last_change_id);
    oldestCapturedAt = Math.min(oldestCapturedAt, Number(row.first_captured_at));
    parts.push({
      table,
      clear: null,
      counts,
      rows: {
        kind: 'inline',
        upserts: row.upsert_count > 0 ? row.upserts : null,
        upsertCount: row.upsert_count,
        deleteKeys: row.delete_count > 0 ? (row.delete_keys as string[]) : null,
        deleteCount: row.delete_count,
      },
    });
  }
  if (parts.length === 0) return read;
  read.batch = {
    to: { snapshot: first.snapshot, lsn: null, lastChangeId: lastChangeId.toString(), changes },
    tables: parts,
    copies: [],
    changes,
    oldestCapturedAt,
  };
  return read;
}
