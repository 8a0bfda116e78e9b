/**
 * lag: a steady stream of single-row transactions; for each row, the time
 * from its commit on the primary to its arrival on the replica.
 *
 * Commit: pg_xact_commit_timestamp(xmin) on the primary (track_commit_timestamp
 * is on), the time PostgreSQL records as the transaction's commit. Not the
 * row's created_at (transaction start) nor a clock_timestamp() taken in the
 * INSERT: both come before the capture trigger runs, so they would count
 * pg-replicator's capture cost as replication lag, which native never pays.
 * Arrival: the replica's arrived_at, stamped by a row trigger as the row is
 * written there, just before its transaction commits. Both stamps come from
 * the same machine's clock.
 */
import type pg from 'pg';
import { type LatencySummary, round, summarize, waitUntil } from '../measure.js';
import type { PerMethod, ReplicationMethod } from '../methods.js';
import { ITEMS } from '../schema.js';
import { type RunDatabases, WRITER_CONNECTIONS } from '../servers.js';
import type { BenchContext, Checked } from '../workload.js';
import { forEachMethod, runOnce } from '../workload.js';
import { runPaced } from '../writers.js';
import { countRows, insertOne, itemsSetup } from './statements.js';

export interface LagFigures {
  targetRate: number;
  achievedRate: number;
  seconds: number;
  /** Commit-to-visible, milliseconds. */
  lagMs: LatencySummary;
}

async function stamps(client: pg.ClientBase, sql: string): Promise<Map<number, number>> {
  const { rows } = await client.query<{ id: string; t: number }>(sql);
  return new Map(rows.map((r) => [Number(r.id), r.t]));
}

export async function measureLag(db: RunDatabases, rate: number, seconds: number, timeoutMs: number): Promise<LagFigures> {
  const load = await runPaced(db.writers, WRITER_CONNECTIONS, rate, seconds * 1000, insertOne);
  await waitUntil('lag: replica holds every row', async () => (await countRows(db.replica)) === load.issued, timeoutMs, 10);
  const committed = await stamps(
    db.primary,
    `SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::float8 AS t FROM ${ITEMS}`,
  );
  const arrived = await stamps(db.replica, `SELECT id, (extract(epoch FROM arrived_at) * 1000)::float8 AS t FROM ${ITEMS}`);
  const lags: number[] = [];
  for (const [id, t] of committed) {
    const a = arrived.get(id);
    if (a === undefined) throw new Error(`lag: row ${id} has no arrival stamp on the replica`);
    lags.push(a - t);
  }
  const lagMs = summarize(lags);
  return {
    targetRate: rate,
    achievedRate: round(load.achievedRate),
    seconds,
    lagMs: {
      samples: lagMs.samples,
      p50: round(lagMs.p50, 2),
      p95: round(lagMs.p95, 2),
      p99: round(lagMs.p99, 2),
      max: round(lagMs.max, 2),
      mean: round(lagMs.mean, 2),
    },
  };
}

export function runLag(ctx: BenchContext): Promise<PerMethod<LagFigures & Checked>> {
  const { lagRate, lagSeconds, timeoutMs } = ctx.sizes;
  return forEachMethod(ctx, `lag ${lagRate} tx/s for ${lagSeconds} s`, itemsSetup({ arrivalStamp: true }), (db) =>
    measureLag(db, lagRate, lagSeconds, timeoutMs),
  );
}

export type SeedFigures = LagFigures & Checked & { pollInterval: string };

/** pg-replicator without LISTEN, polling: for reference, no native counterpart. */
export function runSeedLag(ctx: BenchContext, method: ReplicationMethod): Promise<SeedFigures> {
  const { seedRate, seedSeconds, seedPollInterval, timeoutMs } = ctx.sizes;
  const setup = itemsSetup({ arrivalStamp: true }, { env: { USE_LISTEN: 'false', POLL_INTERVAL: seedPollInterval } });
  return runOnce(
    ctx,
    method,
    `seed mode lag ${seedRate} tx/s for ${seedSeconds} s, polling every ${seedPollInterval}`,
    setup,
    async (db) => ({ ...(await measureLag(db, seedRate, seedSeconds, timeoutMs)), pollInterval: seedPollInterval }),
  );
}
