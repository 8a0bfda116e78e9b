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

// 2 ms between polls: fine enough for millisecond catch-up figures, and each
// poll is an index lookup of a handful of keys, so polling costs the replica
// next to nothing.
const POLL_EVERY_MS = 2;

/**
 * Polls `check` until it returns true; resolves with the monotonic time of the
 * first poll that saw it (the time the query returned, so it includes one
 * round trip, equally for both methods). Fails with `what` at the deadline.
 */
export async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const deadline = now() + timeoutMs;
  for (;;) {
    if (await check()) return now();
    if (now() > deadline) throw new BenchFailure(`${what}: not reached within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(POLL_EVERY_MS);
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

/** The demo columns only: the replica's own arrived_at column is not part of the copy. */
const CHECKSUM = `
  SELECT count(*)::int AS n, coalesce(md5(string_agg(t::text, ',' ORDER BY user_id)), '') AS md5
  FROM (SELECT user_id, name, email, created_at, updated_at FROM users) t`;

/**
 * The end-of-workload correctness check: the replica's rows must equal the
 * primary's, value for value. Both servers were initialised on this machine
 * with the same TimeZone and DateStyle, so equal rows print equal text.
 */
export async function assertSameRows(primary: pg.ClientBase, replica: pg.ClientBase, what: string): Promise<number> {
  const [p, r] = await Promise.all([
    primary.query<{ n: number; md5: string }>(CHECKSUM),
    replica.query<{ n: number; md5: string }>(CHECKSUM),
  ]);
  const a = p.rows[0];
  const b = r.rows[0];
  if (!a || !b || a.md5 !== b.md5) {
    throw new BenchFailure(
      `${what}: replica rows differ from the primary's (primary ${a?.n} rows md5 ${a?.md5}, replica ${b?.n} rows md5 ${b?.md5})`,
    );
  }
  return a.n;
}

export const round = (value: number, digits = 1): number => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};
