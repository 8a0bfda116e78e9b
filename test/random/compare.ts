/**
 * The end of the randomized test: every table's rows as `row::text` on both
 * servers (printing settings pinned the same on both), compared as multisets,
 * with the columns compared first. A difference is described by the first
 * rows (in byte order) that only one side has.
 */
import type pg from 'pg';

const PINNED = `SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC';
  SET extra_float_digits = 3; SET bytea_output = 'hex'`;
const SHOWN = 3;
const ROW_CHARS = 240;

export interface TableDifference {
  table: string;
  primaryRows: number;
  replicaRows: number;
  /** Set when the columns differ (names and types, in order). */
  columns?: { primary: string; replica: string };
  onlyOnPrimary: string[];
  onlyOnReplica: string[];
  /** Rows only on one side, in all. */
  differing: number;
}

async function columnsOf(client: pg.Client, table: string): Promise<string> {
  const { rows } = await client.query<{ c: string | null }>(
    `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) AS c
     FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped`,
    [table],
  );
  return rows[0]?.c ?? '(no such table)';
}

async function rowsOf(client: pg.Client, table: string): Promise<string[]> {
  // ROW(alias.*), not alias::text: a column named like the alias would win over the row.
  const { rows } = await client.query<{ r: string }>(`SELECT ROW(row_.*)::text AS r FROM ${table} AS row_`);
  return rows.map((r) => r.r);
}

const clip = (row: string) => (row.length > ROW_CHARS ? `${row.slice(0, ROW_CHARS)}… (${row.length} chars)` : row);
const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Rows of `a` not matched by an equal row of `b` (as multisets), in byte order. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const row of b) counts.set(row, (counts.get(row) ?? 0) + 1);
  const left: string[] = [];
  for (const row of a) {
    const n = counts.get(row) ?? 0;
    if (n > 0) counts.set(row, n - 1);
    else left.push(row);
  }
  return left.sort(byBytes);
}

export async function pinPrintSettings(client: pg.Client): Promise<void> {
  await client.query(PINNED);
}

export async function compareTable(primary: pg.Client, replica: pg.Client, table: string): Promise<TableDifference | null> {
  const [pc, rc, pr, rr] = await Promise.all([
    columnsOf(primary, table),
    columnsOf(replica, table),
    rowsOf(primary, table),
    rowsOf(replica, table).catch((e: Error) => [`(replica: ${e.message})`]),
  ]);
  const onlyOnPrimary = minus(pr, rr);
  const onlyOnReplica = minus(rr, pr);
  if (pc === rc && onlyOnPrimary.length === 0 && onlyOnReplica.length === 0) return null;
  return {
    table,
    primaryRows: pr.length,
    replicaRows: rr.length,
    columns: pc === rc ? undefined : { primary: pc, replica: rc },
    onlyOnPrimary: onlyOnPrimary.slice(0, SHOWN).map(clip),
    onlyOnReplica: onlyOnReplica.slice(0, SHOWN).map(clip),
    differing: onlyOnPrimary.length + onlyOnReplica.length,
  };
}

export function describeDifference(d: TableDifference, family: string): string {
  const lines = [
    `${d.table} (${family}): ${d.primaryRows} rows on the primary, ${d.replicaRows} on the replica, ${d.differing} rows on one side only`,
  ];
  if (d.columns) lines.push(`  columns differ: primary (${d.columns.primary}) vs replica (${d.columns.replica})`);
  for (const row of d.onlyOnPrimary) lines.push(`  only on the primary: ${row}`);
  for (const row of d.onlyOnReplica) lines.push(`  only on the replica: ${row}`);
  return lines.join('\n');
}
