/**
 * The application side: single-row transactions from the writers' pool,
 * either as fast as the connections allow (closed loop) or at a fixed rate
 * (open loop, for latency). Each statement runs in autocommit, so one
 * statement is one transaction, as in the demo's API.
 */
import type pg from 'pg';
import { now, sleep } from './measure.js';

export interface ClosedLoopResult {
  /** Monotonic ms when the first statement was sent / the last commit was acknowledged. */
  firstStart: number;
  lastEnd: number;
  /** Per connection, the last index it committed: each connection commits in order, so once its last is on the replica, all of its earlier ones are. */
  lastIndexes: number[];
}

/**
 * Runs `total` transactions, indexes 0..total-1, spread over `connections`
 * clients that each take the next index when their previous commit returns.
 */
export async function runClosedLoop(
  pool: pg.Pool,
  connections: number,
  total: number,
  statement: (index: number) => { text: string; values: unknown[] },
): Promise<ClosedLoopResult> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  let next = 0;
  const lastIndexes: number[] = [];
  const firstStart = now();
  try {
    await Promise.all(
      clients.map(async (client) => {
        let last = -1;
        for (let i = next++; i < total; i = next++) {
          await client.query(statement(i));
          last = i;
        }
        if (last >= 0) lastIndexes.push(last);
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
  return { firstStart, lastEnd: now(), lastIndexes };
}

export interface PacedResult {
  issued: number;
  /** Statements per second actually sent (below the target if the connections could not keep up). */
  achievedRate: number;
  lastEnd: number;
}

/**
 * Sends `rate` transactions per second for `durationMs`, open loop: the
 * schedule does not wait for slow commits (up to `connections` in flight), so
 * a slow replica cannot slow the load that measures it.
 */
export async function runPaced(
  pool: pg.Pool,
  connections: number,
  rate: number,
  durationMs: number,
  statement: (index: number) => { text: string; values: unknown[] },
): Promise<PacedResult> {
  const start = now();
  let issued = 0;
  let inFlight = 0;
  let failure: unknown;
  const pending = new Set<Promise<void>>();
  while (failure === undefined) {
    const elapsed = now() - start;
    if (elapsed >= durationMs) break;
    const due = Math.min(Math.floor((elapsed * rate) / 1000) + 1, Math.ceil((durationMs * rate) / 1000));
    while (issued < due && inFlight < connections) {
      const index = issued++;
      inFlight++;
      const done: Promise<void> = pool
        .query(statement(index))
        .then(
          () => undefined,
          (error: unknown) => {
            failure ??= error;
          },
        )
        .finally(() => {
          inFlight--;
          pending.delete(done);
        });
      pending.add(done);
    }
    await sleep(1);
  }
  const sendingMs = now() - start;
  await Promise.all(pending);
  if (failure !== undefined) throw failure;
  return { issued, achievedRate: issued / (sendingMs / 1000), lastEnd: now() };
}
