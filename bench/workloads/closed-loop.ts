/**
 * oltp, update and delete: N single-row transactions from 8 connections, as
 * fast as they go, measured from the first write to the replica caught up.
 */
import type pg from 'pg';
import { round, waitUntil } from '../measure.js';
import type { PerMethod } from '../methods.js';
import { type RunDatabases, WRITER_CONNECTIONS } from '../servers.js';
import type { BenchContext, Checked } from '../workload.js';
import { forEachMethod, settle } from '../workload.js';
import { runClosedLoop } from '../writers.js';
import { deleteOne, haveIds, haveUpdates, insertOne, insertRange, itemId, itemsSetup, lackIds, updateOne } from './statements.js';

export interface ClosedLoopFigures {
  transactions: number;
  /** First write sent to the last commit acknowledged: the primary's side alone. */
  writeMs: number;
  writeRowsPerSec: number;
  /** First write sent to the replica caught up: the spec's throughput. */
  endToEndMs: number;
  rowsPerSec: number;
  /** Last commit acknowledged to the replica caught up. */
  catchUpMs: number;
}

interface Kind {
  name: string;
  preload: boolean;
  statement: (index: number) => { text: string; values: unknown[] };
  /** Whether these last transactions (one per connection) are visible on the replica. */
  arrived: (replica: pg.ClientBase, lastIndexes: readonly number[]) => Promise<boolean>;
}

const KINDS = {
  oltp: { name: 'oltp', preload: false, statement: insertOne, arrived: (r, last) => haveIds(r, last.map(itemId)) },
  update: { name: 'update', preload: true, statement: updateOne, arrived: haveUpdates },
  delete: { name: 'delete', preload: true, statement: deleteOne, arrived: (r, last) => lackIds(r, last.map(itemId)) },
} satisfies Record<string, Kind>;

/**
 * Rows for update/delete, inserted and replicated before the clock starts;
 * then every table of both databases is vacuumed (the replicator's change
 * logs too, without the benchmark naming them) and both servers settle, so
 * the measured phase starts from the same clean state for every method.
 */
async function preload(db: RunDatabases, rows: number, timeoutMs: number): Promise<void> {
  await db.primary.query(insertRange(1, rows));
  await waitUntil('preload: replica holds every row', () => haveIds(db.replica, [rows]), timeoutMs);
  await settle(db, timeoutMs);
  await Promise.all([db.primary.query('VACUUM (ANALYZE)'), db.replica.query('VACUUM (ANALYZE)')]);
  await settle(db, timeoutMs);
}

async function measure(db: RunDatabases, kind: Kind, transactions: number, timeoutMs: number): Promise<ClosedLoopFigures> {
  if (kind.preload) await preload(db, transactions, timeoutMs);
  const writes = await runClosedLoop(db.writers, WRITER_CONNECTIONS, transactions, kind.statement);
  const caughtUp = await waitUntil(
    `${kind.name}: replica caught up`,
    () => kind.arrived(db.replica, writes.lastIndexes),
    timeoutMs,
  );
  const writeMs = writes.lastEnd - writes.firstStart;
  const endToEndMs = caughtUp - writes.firstStart;
  return {
    transactions,
    writeMs: round(writeMs),
    writeRowsPerSec: Math.round(transactions / (writeMs / 1000)),
    endToEndMs: round(endToEndMs),
    rowsPerSec: Math.round(transactions / (endToEndMs / 1000)),
    catchUpMs: round(Math.max(0, caughtUp - writes.lastEnd)),
  };
}

function run(ctx: BenchContext, kind: Kind, label: string, n: number): Promise<PerMethod<ClosedLoopFigures & Checked>> {
  return forEachMethod(ctx, label, itemsSetup(), (db) => measure(db, kind, n, ctx.sizes.timeoutMs));
}

export const runOltp = (ctx: BenchContext) =>
  run(ctx, KINDS.oltp, `oltp ${ctx.sizes.oltpTransactions} inserts`, ctx.sizes.oltpTransactions);
export const runUpdate = (ctx: BenchContext) =>
  run(ctx, KINDS.update, `update ${ctx.sizes.updateTransactions} rows`, ctx.sizes.updateTransactions);
export const runDelete = (ctx: BenchContext) =>
  run(ctx, KINDS.delete, `delete ${ctx.sizes.deleteTransactions} rows`, ctx.sizes.deleteTransactions);
