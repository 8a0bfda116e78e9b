/**
 * Finds the keys that may differ between primary and replica, by key ranges:
 *
 * 1. The primary cuts the table into ranges of about `rangeRows` rows (every
 *    rangeRows-th key in key order).
 * 2. Each range is hashed on both servers at once (count and hash); equal
 *    ranges are done.
 * 3. A range that differs is cut into `fanout` parts and each part is hashed
 *    again, recursively, until a range holds at most `leafRows` rows on both
 *    sides (or none on one side): then both servers list key and row hash of
 *    its rows, and the lists are compared.
 *
 * Parts are cut on the primary, or on the replica where the replica holds
 * more rows in the range (rows extra on the replica can only be split by
 * their own keys); either way the same bound values are then compared on both
 * servers. Only counts, hashes, bounds and the keys of leaf rows cross the
 * wire.
 *
 * The two servers are read at slightly different moments, so while the
 * primary is written a range can differ only because the replica has not
 * caught up: what comes out is candidates, which confirmDifferences settles.
 */

import { limiter, type Side } from './sides.js';
import type { KeyRange, TableSql } from './table-sql.js';
import { WHOLE_TABLE } from './table-sql.js';

export interface RangeSettings {
  /** Rows per first-level range. */
  rangeRows: number;
  /** A range with at most this many rows on both sides is compared row by row. */
  leafRows: number;
  /** Parts a differing range is cut into. */
  fanout: number;
  /** Ranges worked on at once (one connection per server each). */
  jobs: number;
}

export const DEFAULT_RANGES: RangeSettings = { rangeRows: 100_000, leafRows: 2_000, fanout: 16, jobs: 4 };

export interface RangeComparison {
  /** Rows counted in the first-level ranges, on each side. */
  primaryRows: number;
  replicaRows: number;
  /** Ranges hashed on both sides, first-level and parts. */
  ranges: number;
  /** Ranges compared row by row. */
  leaves: number;
  /** Keys (JSON object text) whose row is missing on one side or hashes differently. */
  candidates: Set<string>;
}

interface RangeHash {
  n: number;
  h: string;
}

/** Keys present on one side only or with different row hashes. */
export function diffRows(primary: ReadonlyMap<string, string>, replica: ReadonlyMap<string, string>): string[] {
  const keys: string[] = [];
  for (const [key, hash] of primary) if (replica.get(key) !== hash) keys.push(key);
  for (const key of replica.keys()) if (!primary.has(key)) keys.push(key);
  return keys;
}

/** Consecutive ranges (lo, b1], (b1, b2], …, (bn, hi] from the boundaries inside `range`. */
export function splitRange(range: KeyRange, bounds: readonly string[]): KeyRange[] {
  const parts: KeyRange[] = [];
  let lo = range.lo;
  for (const bound of bounds) {
    parts.push({ lo, hi: bound });
    lo = bound;
  }
  parts.push({ lo, hi: range.hi });
  return parts;
}

/** Hashes ranges on both servers and narrows differing ones down to rows, adding into `result`; at most `settings.jobs` at a time. */
function rangeComparer(primary: Side, replica: Side, sql: TableSql, settings: RangeSettings, result: RangeComparison) {
  const limit = limiter(settings.jobs);

  const hash = (side: Side, range: KeyRange) =>
    side.read(async (c) => {
      const q = sql.rangeHash(range);
      const row = (await c.query<{ n: string; h: string }>(q.text, q.values)).rows[0] as { n: string; h: string };
      return { n: Number(row.n), h: row.h } satisfies RangeHash;
    });
  const boundaries = (side: Side, range: KeyRange, step: number) =>
    side.read(async (c) => {
      const q = sql.boundaries(range, step);
      return (await c.query<{ key: string }>(q.text, q.values)).rows.map((r) => r.key);
    });
  const rows = (side: Side, range: KeyRange) =>
    side.read(async (c) => {
      const q = sql.rowsInRange(range);
      const listed = await c.query<{ key: string; h: string }>(q.text, q.values);
      return new Map(listed.rows.map((r) => [r.key, r.h]));
    });

  const leaf = async (range: KeyRange) => {
    const [p, r] = await limit(() => Promise.all([rows(primary, range), rows(replica, range)]));
    result.leaves++;
    for (const key of diffRows(p, r)) result.candidates.add(key);
  };

  const compare = async (range: KeyRange, firstLevel: boolean): Promise<void> => {
    const [p, r] = await limit(() => Promise.all([hash(primary, range), hash(replica, range)]));
    result.ranges++;
    if (firstLevel) {
      result.primaryRows += p.n;
      result.replicaRows += r.n;
    }
    if (p.n === r.n && p.h === r.h) return;
    if (Math.max(p.n, r.n) <= settings.leafRows || Math.min(p.n, r.n) === 0) return leaf(range);
    const [side, rowsThere] = p.n >= r.n ? [primary, p.n] : [replica, r.n];
    const bounds = await limit(() => boundaries(side, range, Math.ceil(rowsThere / settings.fanout)));
    if (bounds.length === 0) return leaf(range);
    await Promise.all(splitRange(range, bounds).map((part) => compare(part, false)));
  };

  return { compare, boundaries };
}

const noComparison = (): RangeComparison => ({ primaryRows: 0, replicaRows: 0, ranges: 0, leaves: 0, candidates: new Set() });

export async function compareRanges(
  primary: Side,
  replica: Side,
  sql: TableSql,
  settings: RangeSettings = DEFAULT_RANGES,
): Promise<RangeComparison> {
  const result = noComparison();
  const { compare, boundaries } = rangeComparer(primary, replica, sql, settings, result);
  const firstBounds = await boundaries(primary, WHOLE_TABLE, settings.rangeRows);
  await Promise.all(splitRange(WHOLE_TABLE, firstBounds).map((range) => compare(range, true)));
  return result;
}

/** One range as a first-level range (continuous verify's slice): hashed on both servers, narrowed down where it differs. */
export async function compareRange(
  primary: Side,
  replica: Side,
  sql: TableSql,
  range: KeyRange,
  settings: RangeSettings = DEFAULT_RANGES,
): Promise<RangeComparison> {
  const result = noComparison();
  await rangeComparer(primary, replica, sql, settings, result).compare(range, true);
  return result;
}
