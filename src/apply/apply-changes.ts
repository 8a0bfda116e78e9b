/**
 * Applies a run of changes of one table to the replica, inside the caller's
 * transaction, in a few set-based statements whatever the number of rows.
 *
 * Only each key's final state matters (changes arrive in capture order, and
 * a row's changes are captured in the order they were made), so a run becomes
 * one DELETE for keys that end deleted and one INSERT ... ON CONFLICT for keys
 * that end with a row. Deletes go first: a deleted row may free a unique value
 * an upserted row takes. Rows stay JSON text from the primary to
 * json_populate_recordset: PostgreSQL parses every value with its own input
 * function, so nothing passes through a JS number or Date.
 *
 * 'replace' mode exists for unique values swapped between rows inside one
 * primary transaction: row-by-row upserts would collide on the intermediate
 * state, so every touched key is deleted first, then the final rows inserted.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';
import type { Change } from '../source/read-changes.js';

export type ApplyMode = 'upsert' | 'replace';

/** The statements of one table, for rows passed as a JSON array in parameter `param` (e.g. '$1'). */
export interface TableStatements {
  deleteRows(param: string): string;
  upsertRows(param: string): string;
  insertRows(param: string): string;
  /** The same upsert from a relation with the replicated columns (the initial copy's staging table). */
  upsertFrom(relation: string): string;
  truncate: string;
}

const cache = new WeakMap<ReplicatedTable, TableStatements>();

export function tableStatements(table: ReplicatedTable): TableStatements {
  const cached = cache.get(table);
  if (cached) return cached;
  const target = quoteQualified(table.table);
  const columns = table.columns.map(quoteIdent).join(', ');
  const keys = table.keyColumns.map(quoteIdent);
  const rowsOf = (param: string) => `json_populate_recordset(NULL::${target}, ${param}::json)`;
  const nonKey = table.columns.filter((c) => !table.keyColumns.includes(c)).map(quoteIdent);
  const onConflict = nonKey.length === 0 ? 'DO NOTHING' : `DO UPDATE SET ${nonKey.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}`;
  // OVERRIDING SYSTEM VALUE: a replica column GENERATED ALWAYS AS IDENTITY must
  // still take the primary's value.
  const insertFrom = (relation: string) =>
    `INSERT INTO ${target} (${columns}) OVERRIDING SYSTEM VALUE SELECT ${columns} FROM ${relation}`;
  const upsertFrom = (relation: string) => `${insertFrom(relation)} ON CONFLICT (${keys.join(', ')}) ${onConflict}`;
  const statements: TableStatements = {
    deleteRows: (param) =>
      `DELETE FROM ${target} AS t USING ${rowsOf(param)} AS c WHERE ${keys.map((k) => `t.${k} = c.${k}`).join(' AND ')}`,
    upsertRows: (param) => upsertFrom(rowsOf(param)),
    insertRows: (param) => insertFrom(rowsOf(param)),
    upsertFrom,
    truncate: `TRUNCATE ${target}`,
  };
  cache.set(table, statements);
  return statements;
}

/** Each key's last change decides: row images to delete and to upsert (JSON texts), in capture order. */
export function finalState(run: readonly Change[]): { deletes: string[]; upserts: string[] } {
  const last = new Map<string, Change>();
  for (const change of run) last.set(change.key, change);
  const deletes: string[] = [];
  const upserts: string[] = [];
  for (const change of last.values()) (change.op === 'DELETE' ? deletes : upserts).push(change.row as string);
  return { deletes, upserts };
}

export const asJsonArray = (rows: readonly string[]): string => `[${rows.join(',')}]`;

export interface AppliedCounts {
  upserted: number;
  deleted: number;
  truncated: number;
}

export async function applyChanges(
  replica: pg.ClientBase,
  table: ReplicatedTable,
  changes: readonly Change[],
  mode: ApplyMode,
): Promise<AppliedCounts> {
  const sql = tableStatements(table);
  const counts: AppliedCounts = { upserted: 0, deleted: 0, truncated: 0 };
  let run: Change[] = [];
  for (const change of changes) {
    if (change.op === 'TRUNCATE') {
      await applyRun(replica, sql, run, mode, counts);
      run = [];
      await replica.query(sql.truncate);
      counts.truncated++;
    } else {
      run.push(change);
    }
  }
  await applyRun(replica, sql, run, mode, counts);
  return counts;
}

async function applyRun(
  replica: pg.ClientBase,
  sql: TableStatements,
  run: readonly Change[],
  mode: ApplyMode,
  counts: AppliedCounts,
): Promise<void> {
  if (run.length === 0) return;
  const { deletes, upserts } = finalState(run);
  if (mode === 'replace') {
    await replica.query(sql.deleteRows('$1'), [asJsonArray([...deletes, ...upserts])]);
    if (upserts.length > 0) await replica.query(sql.insertRows('$1'), [asJsonArray(upserts)]);
  } else {
    if (deletes.length > 0) await replica.query(sql.deleteRows('$1'), [asJsonArray(deletes)]);
    if (upserts.length > 0) await replica.query(sql.upsertRows('$1'), [asJsonArray(upserts)]);
  }
  counts.deleted += deletes.length;
  counts.upserted += upserts.length;
}
