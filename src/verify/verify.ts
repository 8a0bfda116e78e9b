/**
 * `replicator verify`: compares primary and replica table by table, for every
 * table of the replication set (or the ones named). Per table: key ranges
 * hashed on both servers narrow differences down to candidate keys
 * (compare-ranges.ts), candidates are confirmed once the replica has caught
 * up with the primary position they were seen at (confirm-differences.ts),
 * and with --repair the confirmed ones are rewritten from the primary
 * (repair.ts). It runs beside a live primary and a running replicator.
 */
import { resolveTable } from '../capture/replication-set.js';
import { displayName } from '../db/quote.js';
import { REPLICATION_ROLE } from '../db/session-settings.js';
import { isReplicatorError, ReplicatorError } from '../errors.js';
import { readCopyProgress } from '../initial-copy/copy-progress.js';
import { describeBothSides, describeReplicatedTable } from '../tables/describe-replicated-table.js';
import { type RegistryEntry, readRegistry, sameTable } from '../tables/registry.js';
import type { ReplicatedTable } from '../tables/table-model.js';
import { compareRanges, DEFAULT_RANGES, type RangeSettings } from './compare-ranges.js';
import { confirmDifferences, type Unconfirmed } from './confirm-differences.js';
import { keyColumnsToCollateC } from './key-order.js';
import { type Repair, repairRows } from './repair.js';
import type { Side } from './sides.js';
import { TableSql } from './table-sql.js';

export interface VerifyOptions {
  /** Table names (schema.table) to verify; all of the replication set when empty. */
  tables?: readonly string[];
  repair?: boolean;
  /** How long to wait for the replica to reach a primary position before a difference is judged. */
  waitMs: number;
  /** Confirmation rounds for rows that keep changing. */
  rounds?: number;
  ranges?: Partial<RangeSettings>;
  /** Called as each table is done (for printing as it goes). */
  onTable?: (report: TableReport) => void;
}

/**
 * identical: no difference. different: confirmed differences. unconfirmed:
 * rows that could not be judged (the replica did not catch up within --wait,
 * or they kept changing). skipped: its initial copy is not finished. error:
 * the table could not be compared (schema).
 */
export type TableStatus = 'identical' | 'different' | 'unconfirmed' | 'skipped' | 'error';

export interface TableReport {
  table: string;
  status: TableStatus;
  rows: { primary: number; replica: number };
  /** Ranges hashed on both servers (first-level ranges and their parts). */
  ranges: number;
  /** Ranges compared row by row. */
  leaves: number;
  /** Keys that differed in a range and were looked at again. */
  candidates: number;
  /** Confirmation rounds run. */
  rounds: number;
  /** Key columns compared with COLLATE "C" (their collations differ between the servers). */
  collateC: string[];
  /** Confirmed differences, as key JSON objects. */
  missing: string[];
  extra: string[];
  different: string[];
  unconfirmed: Unconfirmed[];
  repair: Repair | null;
  /** Why the table was skipped or could not be compared. */
  message: string | null;
  elapsedMs: number;
}

export interface VerifyReport {
  /** Every table identical: the command exits 0 only then. */
  identical: boolean;
  tables: TableReport[];
  elapsedMs: number;
}

export const DEFAULT_ROUNDS = 10;

/** Keys listed in a readable order (numbers in them compared as numbers); the key order itself is the servers'. */
const byKey = new Intl.Collator('en', { numeric: true });

function emptyReport(table: string): TableReport {
  return {
    table,
    status: 'identical',
    rows: { primary: 0, replica: 0 },
    ranges: 0,
    leaves: 0,
    candidates: 0,
    rounds: 0,
    collateC: [],
    missing: [],
    extra: [],
    different: [],
    unconfirmed: [],
    repair: null,
    message: null,
    elapsedMs: 0,
  };
}

async function selectTables(primary: Side, names: readonly string[] | undefined): Promise<RegistryEntry[]> {
  return primary.read(async (c) => {
    const all = await readRegistry(c);
    if (!names || names.length === 0) return all;
    const selected: RegistryEntry[] = [];
    for (const name of names) {
      const table = await resolveTable(primary.db, name);
      const entry = all.find((t) => sameTable(t.table, table));
      if (!entry) {
        throw new ReplicatorError(
          'SCHEMA_MISSING',
          `primary: ${displayName(table)} is not in the replication set; add it with \`replicator add ${name}\``,
        );
      }
      if (!selected.includes(entry)) selected.push(entry);
    }
    return selected;
  });
}

/** The SQL to compare a table with, or why it cannot be compared now: a schema error, or an initial copy not finished. */
export type TableToCompare = { sql: TableSql } | { status: 'skipped' | 'error'; message: string };

export async function tableToCompare(primary: Side, replica: Side, entry: RegistryEntry): Promise<TableToCompare> {
  let table: ReplicatedTable;
  let collateC: Set<string>;
  try {
    const described = await primary.read((pc) =>
      replica.read(async (rc) => {
        const sides = await describeBothSides(pc, rc, entry);
        if (!sides) {
          throw new ReplicatorError('SCHEMA_MISSING', `primary: table ${displayName(entry.table)} does not exist`);
        }
        const model = await describeReplicatedTable(pc, rc, entry, sides);
        return { model, collateC: await keyColumnsToCollateC(pc, rc, model) };
      }),
    );
    table = described.model;
    collateC = described.collateC;
  } catch (error) {
    if (!isReplicatorError(error) || (error.code !== 'SCHEMA_MISSING' && error.code !== 'SCHEMA_MISMATCH')) throw error;
    return { status: 'error', message: error.message };
  }
  const progress = await replica.read((rc) => readCopyProgress(rc, table.table));
  if (!progress || progress.requestedAt !== table.copyRequestedAt || !progress.done) {
    return {
      status: 'skipped',
      message: progress
        ? `initial copy not finished (${progress.rowsCopied} rows copied); verify it once the copy is done`
        : 'initial copy not started; it runs when `replicator run` runs',
    };
  }
  return { sql: new TableSql(table, collateC) };
}

async function verifyTable(
  primary: Side,
  replica: Side,
  entry: RegistryEntry,
  options: VerifyOptions,
  replicationRole: boolean,
): Promise<TableReport> {
  const started = performance.now();
  const report = emptyReport(displayName(entry.table));
  const done = () => {
    report.elapsedMs = Math.round(performance.now() - started);
    return report;
  };
  const prepared = await tableToCompare(primary, replica, entry);
  if (!('sql' in prepared)) {
    report.status = prepared.status;
    report.message = prepared.message;
    return done();
  }
  const { sql } = prepared;
  report.collateC = [...sql.collateC];

  const ranges = await compareRanges(primary, replica, sql, { ...DEFAULT_RANGES, ...options.ranges });
  report.rows = { primary: ranges.primaryRows, replica: ranges.replicaRows };
  report.ranges = ranges.ranges;
  report.leaves = ranges.leaves;
  report.candidates = ranges.candidates.size;

  const confirmed = await confirmDifferences(primary, replica, sql, ranges.candidates, {
    waitMs: options.waitMs,
    rounds: options.rounds ?? DEFAULT_ROUNDS,
  });
  report.rounds = confirmed.rounds;
  // A resync empties the replica table and copies it again: differences seen meanwhile are the copy's progress.
  const now = await primary.read((c) => readRegistry(c));
  const still = now.find((t) => sameTable(t.table, entry.table));
  if (still?.copyRequestedAt !== entry.copyRequestedAt) {
    report.status = 'skipped';
    report.message = still
      ? 'a resync was requested while verifying; verify it once the copy is done'
      : 'removed from the replication set while verifying';
    return done();
  }
  for (const [key, kind] of confirmed.differences) report[kind].push(key);
  for (const kind of ['missing', 'extra', 'different'] as const) report[kind].sort(byKey.compare);
  report.unconfirmed = confirmed.unconfirmed.sort((a, b) => byKey.compare(a.key, b.key));
  if (confirmed.differences.size > 0) report.status = 'different';
  else if (confirmed.unconfirmed.length > 0) report.status = 'unconfirmed';

  if (options.repair && confirmed.differences.size > 0) {
    report.repair = await repairRows(primary, replica, sql, [...confirmed.differences.keys()], replicationRole);
  }
  return done();
}

export async function verify(primary: Side, replica: Side, options: VerifyOptions): Promise<VerifyReport> {
  const started = performance.now();
  const entries = await selectTables(primary, options.tables);
  const replicationRole = options.repair
    ? await replica.write(async () => true, `SET LOCAL ${REPLICATION_ROLE} = replica`).catch(() => false)
    : false;
  const tables: TableReport[] = [];
  for (const entry of entries) {
    const report = await verifyTable(primary, replica, entry, options, replicationRole);
    tables.push(report);
    options.onTable?.(report);
  }
  return {
    identical: tables.every((t) => t.status === 'identical'),
    tables,
    elapsedMs: Math.round(performance.now() - started),
  };
}
