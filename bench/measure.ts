/**
 * Clocks, waits and statistics shared by every workload. Everything that
 * waits is bounded: a benchmark that hangs tells nobody anything.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';

/** Monotonic milliseconds: durations only, never compared with database clocks. */
export const now = (): number => performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class BenchFailure extends Error {}

/** Rejects with a message naming `what` if `work` takes longer than `ms`. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BenchFailure(`${what}: did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// 2 ms between polls by default: fine enough for millisecond catch-up
// figures, and each poll is an index lookup of a handful of keys, so polling
// costs the replica next to nothing.
const POLL_EVERY_MS = 2;

/**
 * Polls `check` until it returns true; resolves with the monotonic time of the
 * first poll that saw it (the time the query returned, so it includes one
 * round trip, equally for every method). Fails with `what` at the deadline.
 */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs: number = POLL_EVERY_MS,
): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (await check()) return now();
    if (now() > deadline) throw new BenchFailure(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(everyMs);
  }
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export interface LatencySummary {
  samples: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, v) => sum + v, 0) / Math.max(1, sorted.length);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    mean,
  };
}

/** A table compared between primary and replica: its name and the columns compared, key first. */
export interface ComparedTable {
  /** Qualified and quoted as needed, e.g. bench.items. */
  table: string;
  key: readonly string[];
  /** The columns both sides have (a replica's own columns, such as arrived_at, are left out). */
  columns: readonly string[];
}

/** Row count and the md5 of every row's md5 in key order: equal rows give equal sums, row by row. */
function checksumSql(t: ComparedTable): string {
  return `SELECT count(*)::bigint::text AS n, coalesce(md5(string_agg(md5(t::text), '' ORDER BY ${t.key.join(', ')})), '') AS md5
    FROM (SELECT ${t.columns.join(', ')} FROM ${t.table}) t`;
}

/**
 * The end-of-run correctness check: each table's rows on the replica must
 * equal the primary's, value for value. Both servers were initialised on this
 * machine with the same TimeZone and DateStyle, so equal rows print equal
 * text. Returns the rows per table.
 */
export async function assertSameRows(
  primary: pg.ClientBase,
  replica: pg.ClientBase,
  tables: readonly ComparedTable[],
  what: string,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of tables) {
    const sql = checksumSql(t);
    const [p, r] = await Promise.all([
      primary.query<{ n: string; md5: string }>(sql),
      replica.query<{ n: string; md5: string }>(sql),
    ]);
    const a = p.rows[0];
    const b = r.rows[0];
    if (!a || !b || a.md5 !== b.md5 || a.n !== b.n) {
      throw new BenchFailure(
        `${what}: replica rows of ${t.table} differ from the primary's (primary ${a?.n} rows md5 ${a?.md5}, replica ${b?.n} rows md5 ${b?.md5})`,
      );
    }
    counts[t.table] = Number(a.n);
  }
  return counts;
}

export const round = (value: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};
