/**
 * Settles candidate keys: a difference is reported only if it is still there
 * once the replica has reached the primary position at which it was seen.
 *
 * The replica's position is a primary snapshot P, and "the replica equals the
 * primary as of P" holds after every replica commit. Each round, for the
 * pending keys:
 *
 *   A. (previous round) the replica's rows, and its position P0, in one snapshot;
 *   B. (previous round) the primary's rows in one snapshot Sa, read after A;
 *   C. wait until the replica holds every change of this table visible in Sa
 *      (trigger capture: no change of the table's log visible in Sa is still
 *      unacknowledged and outside the replica's position; logical capture:
 *      the replica's LSN has reached the WAL insert position read in Sa, past
 *      the commit record of every transaction visible in it, as the replica
 *      holds every transaction ending at or below its LSN); bounded by --wait;
 *   D. the replica's rows at its position Pr, in one snapshot, after C;
 *   E. the primary's rows in one snapshot Sb, after D.
 *
 * Every row read carries its version (xmin, new for every write), so:
 *
 * - the primary's row has the same version in Sa and Sb: no change of that
 *   row is visible in Sb but not in Sa; Pr lies between them (it holds Sa's
 *   changes, and was taken before Sb), so the primary's row as of Pr is that
 *   version, and the replica at Pr must hold exactly it;
 * - the replica's row has the same version in A and D: no change of that key
 *   was applied between P0 and Pr; Sa lies between them (taken after P0 was
 *   stored, and Pr holds its changes), so the replica must equal the primary's
 *   row as of Sa, present or absent.
 *
 * Either way the comparison is exact: a mismatch is a confirmed difference,
 * not replication lag. A row whose versions moved on both servers is
 * compared again in the next round (the row changed again meanwhile), unless
 * the replica already equals one of the primary's two reads (then it is not a
 * lasting difference). Keys still moving after the last round are reported as
 * unsettled; keys for which the replica did not catch up within --wait, as
 * unconfirmed. Neither counts as "identical".
 */
import type pg from 'pg';
import { readPosition } from '../apply/replica-position.js';
import { parseLsn } from '../source/logical/lsn.js';
import type { Side } from './sides.js';
import { sleep } from './sides.js';
import { keysArray, type TableSql } from './table-sql.js';

export type DifferenceKind = 'missing' | 'extra' | 'different';

/** A row as read on one server: its hash and version; null when the key has no row there. */
export type Observed = { hash: string; version: string } | null;

export type Decision = 'same' | DifferenceKind | 'retry';

export interface ConfirmSettings {
  /** How long to wait for the replica to reach a primary snapshot, per round. */
  waitMs: number;
  rounds: number;
}

export interface Unconfirmed {
  key: string;
  /** What the last reads showed. */
  kind: DifferenceKind;
  reason: 'replica behind' | 'kept changing';
}

export interface Confirmation {
  differences: Map<string, DifferenceKind>;
  unconfirmed: Unconfirmed[];
  rounds: number;
}

const KEYS_PER_QUERY = 5_000;

function kindOf(primary: string | null, replica: string | null): DifferenceKind {
  if (primary === null) return 'extra';
  if (replica === null) return 'missing';
  return 'different';
}

/**
 * One key, one round: a = primary at Sa, b = primary at Sb, r0 = replica at
 * P0, r1 = replica at Pr, with P0 before Sa, Sa's changes in Pr, Pr before Sb.
 * `replicaVersions`: every change applied to a key writes a new replica row
 * version. Not so for a table of key columns only, where re-inserting an
 * existing key is ON CONFLICT DO NOTHING: there only the primary's versions
 * are used.
 */
export function decide(a: Observed, b: Observed, r0: Observed, r1: Observed, replicaVersions = true): Decision {
  const have = r1?.hash ?? null;
  const primaryStable = a !== null && b !== null && a.version === b.version;
  const replicaStable = replicaVersions && r0 !== null && r1 !== null && r0.version === r1.version;
  if (primaryStable || replicaStable) {
    const truth = a?.hash ?? null;
    return truth === have ? 'same' : kindOf(truth, have);
  }
  if (have === (b?.hash ?? null) || have === (a?.hash ?? null)) return 'same';
  return 'retry';
}

interface Read {
  /** The primary's snapshot, or the replica's position (null before the first batch). */
  snapshot: string | null;
  /** The primary's WAL insert position, read after its snapshot was taken (primary reads only). */
  lsn: string | null;
  rows: Map<string, Observed>;
}

async function readRows(client: pg.ClientBase, sql: TableSql, keys: readonly string[]): Promise<Map<string, Observed>> {
  const rows = new Map<string, Observed>();
  for (let start = 0; start < keys.length; start += KEYS_PER_QUERY) {
    const chunk = keys.slice(start, start + KEYS_PER_QUERY);
    const q = sql.rowsByKey(keysArray(chunk));
    const found = await client.query<{ i: number; h: string; v: string }>(q.text, q.values);
    for (const r of found.rows) rows.set(chunk[r.i - 1] as string, { hash: r.h, version: r.v });
  }
  return rows;
}

export function readPrimary(primary: Side, sql: TableSql, keys: readonly string[]): Promise<Read> {
  return primary.read(
    async (c) => {
      // The snapshot is taken as the statement starts: the insert position is read after it.
      const { rows } = await c.query<{ s: string; l: string }>(
        'SELECT pg_catalog.pg_current_snapshot()::text AS s, pg_catalog.pg_current_wal_insert_lsn()::text AS l',
      );
      const read = rows[0] as { s: string; l: string };
      return { snapshot: read.s, lsn: read.l, rows: await readRows(c, sql, keys) };
    },
    { lock: [sql.table.table] },
  );
}

export function readReplica(replica: Side, sql: TableSql, keys: readonly string[]): Promise<Read> {
  return replica.read(
    async (c) => {
      const position = await readPosition(c);
      return { snapshot: position.snapshot, lsn: position.lsn, rows: await readRows(c, sql, keys) };
    },
    { lock: [sql.table.table] },
  );
}

/**
 * Waits until the replica holds every change of the table visible in the
 * primary read `seen` (step C above); false when `waitMs` runs out first.
 */
export async function waitForReplica(
  primary: Side,
  replica: Side,
  sql: TableSql,
  seen: { snapshot: string; lsn: string },
  waitMs: number,
): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
    const position = await replica.read((c) => readPosition(c));
    let behind: boolean | undefined;
    if (position.source?.mode === 'logical') {
      // The replica holds every transaction ending at or below its LSN.
      behind = position.lsn === null || parseLsn(position.lsn) < parseLsn(seen.lsn);
    } else {
      const q = sql.behind(seen.snapshot, position.snapshot);
      behind = await primary.read(async (c) => (await c.query<{ behind: boolean }>(q.text, q.values)).rows[0]?.behind);
    }
    if (!behind) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(pause, Math.max(deadline - Date.now(), 1)));
  }
}

export async function confirmDifferences(
  primary: Side,
  replica: Side,
  sql: TableSql,
  candidates: Iterable<string>,
  settings: ConfirmSettings,
): Promise<Confirmation> {
  const result: Confirmation = { differences: new Map(), unconfirmed: [], rounds: 0 };
  let pending = [...candidates];
  if (pending.length === 0) return result;
  const replicaVersions = sql.table.columns.some((c) => !sql.table.keyColumns.includes(c.name));
  // A then B: the replica first, so its position is older than the primary's snapshot.
  let before = await readReplica(replica, sql, pending);
  let seen = await readPrimary(primary, sql, pending);
  while (pending.length > 0 && result.rounds < settings.rounds) {
    result.rounds++;
    const caughtUp = await waitForReplica(
      primary,
      replica,
      sql,
      { snapshot: seen.snapshot as string, lsn: seen.lsn as string },
      settings.waitMs,
    );
    const after = await readReplica(replica, sql, pending);
    const now = await readPrimary(primary, sql, pending);
    const next: string[] = [];
    for (const key of pending) {
      const a = seen.rows.get(key) ?? null;
      const b = now.rows.get(key) ?? null;
      const r1 = after.rows.get(key) ?? null;
      const decision = caughtUp
        ? decide(a, b, before.rows.get(key) ?? null, r1, replicaVersions)
        : (r1?.hash ?? null) === (b?.hash ?? null)
          ? 'same'
          : 'retry';
      if (decision === 'same') continue;
      if (decision !== 'retry') result.differences.set(key, decision);
      else if (!caughtUp)
        result.unconfirmed.push({ key, kind: kindOf(b?.hash ?? null, r1?.hash ?? null), reason: 'replica behind' });
      else next.push(key);
    }
    if (!caughtUp) return result;
    pending = next;
    before = after;
    seen = now;
  }
  for (const key of pending) {
    const b = seen.rows.get(key)?.hash ?? null;
    const r = before.rows.get(key)?.hash ?? null;
    result.unconfirmed.push({ key, kind: kindOf(b, r), reason: 'kept changing' });
  }
  return result;
}
