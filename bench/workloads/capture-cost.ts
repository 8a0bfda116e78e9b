/**
 * capture cost: what a method's capture costs the application's writes on the
 * primary, with nothing replicating. The same inserts run on bench.items with
 * nothing installed and with the method's capture installed (for
 * pg-replicator: install-primary, install-replica and add, no `replicator
 * run`); ratio = time with / without. Runs alternate (without, with, without,
 * ...) on fresh databases each and the median of each is kept, so a burst of
 * noise on this shared machine does not land on one side.
 */
import { median, now, round, withTimeout } from '../measure.js';
import type { PerMethod, ReplicationMethod } from '../methods.js';
import { createItems, ITEMS } from '../schema.js';
import { freshDatabases, type RunDatabases, WRITER_CONNECTIONS } from '../servers.js';
import type { BenchContext } from '../workload.js';
import { settle } from '../workload.js';
import { runClosedLoop } from '../writers.js';
import { insertOne, insertRange } from './statements.js';

export interface CaptureTimings {
  /** Median ms, and every run's ms. */
  withMs: number;
  ratio: number;
  runsWithMs: number[];
}

export interface CaptureKind {
  /** Median ms with nothing installed, and every run's ms. */
  withoutMs: number;
  runsWithoutMs: number[];
  methods: PerMethod<CaptureTimings>;
}

export interface CaptureFigures {
  bulk: CaptureKind & { rows: number };
  single: CaptureKind & { transactions: number; connections: number };
}

type Timing = (db: RunDatabases) => Promise<number>;

async function timeOnce(ctx: BenchContext, method: ReplicationMethod | undefined, time: Timing): Promise<number> {
  const { timeoutMs } = ctx.sizes;
  const db = await freshDatabases(ctx.servers, method ? `capture_${method.name}` : 'no_capture');
  try {
    await createItems(db.primary, db.replica);
    await method?.installCapture?.(db, [ITEMS], timeoutMs);
    await settle(db, timeoutMs);
    return round(await withTimeout(time(db), timeoutMs, `capture cost (${method?.name ?? 'no capture'})`));
  } finally {
    await db.drop();
  }
}

async function compare(ctx: BenchContext, capturing: readonly ReplicationMethod[], time: Timing): Promise<CaptureKind> {
  const without: number[] = [];
  const withCapture = new Map<ReplicationMethod, number[]>(capturing.map((m) => [m, []]));
  for (let i = 0; i < ctx.sizes.captureRepeats; i++) {
    without.push(await timeOnce(ctx, undefined, time));
    for (const m of capturing) withCapture.get(m)?.push(await timeOnce(ctx, m, time));
  }
  const withoutMs = median(without);
  const methods: PerMethod<CaptureTimings> = {};
  for (const [m, runs] of withCapture) {
    const withMs = median(runs);
    methods[m.name] = { withMs, ratio: round(withMs / withoutMs, 2), runsWithMs: runs };
  }
  return { withoutMs, runsWithoutMs: without, methods };
}

export async function runCaptureCost(ctx: BenchContext): Promise<CaptureFigures> {
  const capturing = ctx.methods.filter((m) => m.installCapture);
  const { captureBulkRows: rows, captureSingleRows: transactions } = ctx.sizes;
  ctx.progress(`capture cost: bulk ${rows} rows, without and with ${capturing.map((m) => m.name).join(', ')}...`);
  const bulk = await compare(ctx, capturing, async (db) => {
    const start = now();
    await db.primary.query(insertRange(1, rows));
    return now() - start;
  });
  ctx.progress(`capture cost: ${transactions} single-row inserts from ${WRITER_CONNECTIONS} connections...`);
  const single = await compare(ctx, capturing, async (db) => {
    const run = await runClosedLoop(db.writers, WRITER_CONNECTIONS, transactions, insertOne);
    return run.lastEnd - run.firstStart;
  });
  return { bulk: { ...bulk, rows }, single: { ...single, transactions, connections: WRITER_CONNECTIONS } };
}
