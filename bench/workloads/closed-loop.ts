/**
 * oltp, update and delete: N single-row transactions from 8 connections, as
 * fast as they go, measured from the first write to the replica caught up.
 */
import type pg from 'pg';
import { round, waitUntil } from '../measure.js';
import { WRITER_CONNECTIONS } from '../servers.js';
import type { BenchContext, PerMethod } from '../workload.js';
import { forEachMethod } from '../workload.js';
import { runClosedLoop } from '../writers.js';
import { deleteOne, haveIds, haveUpdates, insertOne, insertRange, lackIds, updateOne, userId } from './statements.js';

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
  oltp: { name: 'oltp', preload: false, statement: insertOne, arrived: (r, last) => haveIds(r, last.map(userId)) },
  update: { name: 'update', preload: true, statement: updateOne, arrived: haveUpdates },
  delete: { name: 'delete', preload: true, statement: deleteOne, arrived: (r, last) => lackIds(r, last.map(userId)) },
} satisfies Record<string, Kind>;

/**
 * Rows for update/delete, inserted and replicated before the clock starts;
 * then pg-replicator's acknowledgment finishes and both sides are vacuumed,
 * so the measured phase starts from the same clean state for both methods.
 */
async function preload(ctx: BenchContext, rows: number): Promise<void> {
  const { primary, replica } = ctx.servers;
  await primary.query(insertRange(1, rows));
  await waitUntil('preload: replica holds every row', () => haveIds(replica, [rows]), ctx.sizes.timeoutMs);
  await waitUntil(
    'preload: changes acknowledged',
    async () => (await primary.query('SELECT FROM user_changes WHERE NOT processed LIMIT 1')).rows.length === 0,
    ctx.sizes.timeoutMs,
  );
  await primary.query('VACUUM (ANALYZE) users, user_changes');
  await replica.query('VACUUM (ANALYZE) users');
  await Promise.all([primary.query('CHECKPOINT'), replica.query('CHECKPOINT')]);
}

async function measure(ctx: BenchContext, kind: Kind, transactions: number): Promise<ClosedLoopFigures> {
  if (kind.preload) await preload(ctx, transactions);
  const { writers, replica } = ctx.servers;
  const writes = await runClosedLoop(writers, WRITER_CONNECTIONS, transactions, kind.statement);
  const caughtUp = await waitUntil(
    `${kind.name}: replica caught up`,
    () => kind.arrived(replica, writes.lastIndexes),
    ctx.sizes.timeoutMs,
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

export function runOltp(ctx: BenchContext): Promise<PerMethod<ClosedLoopFigures & { rows: number }>> {
  const n = ctx.sizes.oltpTransactions;
  return forEachMethod(ctx, `oltp ${n} inserts`, () => measure(ctx, KINDS.oltp, n));
}

export function runUpdate(ctx: BenchContext): Promise<PerMethod<ClosedLoopFigures & { rows: number }>> {
  const n = ctx.sizes.updateTransactions;
  return forEachMethod(ctx, `update ${n} rows`, () => measure(ctx, KINDS.update, n));
}

export function runDelete(ctx: BenchContext): Promise<PerMethod<ClosedLoopFigures & { rows: number }>> {
  const n = ctx.sizes.deleteTransactions;
  return forEachMethod(ctx, `delete ${n} rows`, () => measure(ctx, KINDS.delete, n));
}
