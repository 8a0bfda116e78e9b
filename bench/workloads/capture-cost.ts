/**
 * capture cost: what pg-replicator's triggers cost the application's writes
 * on the primary, with nothing replicating. The same inserts run on a users
 * table without capture triggers and with them; ratio = time with / without.
 * Runs alternate (without, with, without, ...) and the median of each is
 * kept, so a burst of noise on this shared machine does not land on one side.
 */
import { median, now, round } from '../measure.js';
import { stopNativeReplication } from '../native-replication.js';
import { resetPrimary } from '../schema.js';
import { WRITER_CONNECTIONS } from '../servers.js';
import type { BenchContext } from '../workload.js';
import { runClosedLoop } from '../writers.js';
import { insertOne, insertRange } from './statements.js';

export interface CaptureTimings {
  /** Median ms, and every run's ms. */
  withoutMs: number;
  withMs: number;
  ratio: number;
  runsWithoutMs: number[];
  runsWithMs: number[];
}

export interface CaptureFigures {
  bulk: CaptureTimings & { rows: number };
  single: CaptureTimings & { transactions: number; connections: number };
}

async function timeBulk(ctx: BenchContext, capture: boolean): Promise<number> {
  await resetPrimary(ctx.servers.primary, { capture });
  const start = now();
  await ctx.servers.primary.query(insertRange(1, ctx.sizes.captureBulkRows));
  return now() - start;
}

async function timeSingle(ctx: BenchContext, capture: boolean): Promise<number> {
  await resetPrimary(ctx.servers.primary, { capture });
  const run = await runClosedLoop(ctx.servers.writers, WRITER_CONNECTIONS, ctx.sizes.captureSingleRows, insertOne);
  return run.lastEnd - run.firstStart;
}

async function compare(ctx: BenchContext, time: (capture: boolean) => Promise<number>): Promise<CaptureTimings> {
  const without: number[] = [];
  const withCapture: number[] = [];
  for (let i = 0; i < ctx.sizes.captureRepeats; i++) {
    without.push(round(await time(false)));
    withCapture.push(round(await time(true)));
  }
  const withoutMs = median(without);
  const withMs = median(withCapture);
  return { withoutMs, withMs, ratio: round(withMs / withoutMs, 2), runsWithoutMs: without, runsWithMs: withCapture };
}

export async function runCaptureCost(ctx: BenchContext): Promise<CaptureFigures> {
  // Nothing may replicate meanwhile: no subscription, no pg-replicator running.
  await stopNativeReplication(ctx.servers.primary, ctx.servers.replica);
  ctx.progress(`capture cost: bulk ${ctx.sizes.captureBulkRows} rows...`);
  const bulk = await compare(ctx, (capture) => timeBulk(ctx, capture));
  ctx.progress(`capture cost: ${ctx.sizes.captureSingleRows} single-row inserts from ${WRITER_CONNECTIONS} connections...`);
  const single = await compare(ctx, (capture) => timeSingle(ctx, capture));
  return {
    bulk: { ...bulk, rows: ctx.sizes.captureBulkRows },
    single: { ...single, transactions: ctx.sizes.captureSingleRows, connections: WRITER_CONNECTIONS },
  };
}
