/**
 * The frame every comparative workload runs in: for each method, fresh tables
 * and replication started, the measurement (bounded by the timeout), the
 * correctness check, and replication stopped again, whatever happened.
 */

import { assertSameRows, BenchFailure, withTimeout } from './measure.js';
import type { NativeSettings } from './native-replication.js';
import { type Method, type ReplicationRun, type RunOptions, startReplication } from './replication.js';
import type { BenchServers } from './servers.js';
import type { Sizes } from './sizes.js';

export interface BenchContext {
  servers: BenchServers;
  sizes: Sizes;
  /** Progress lines (stderr), so stdout carries only the result table. */
  progress: (line: string) => void;
  /** Run pg-replicator as a separate process in every workload (--ours-process), not in this one. */
  oursAsChild: boolean;
  /** The native subscription's effective settings, as first seen: part of the results. */
  nativeSubscription?: NativeSettings;
}

export type PerMethod<T> = Record<Method, T>;

export interface Checked {
  /** Rows in the table at the end, equal on both sides. */
  rows: number;
}

/** Both methods, native first, on fresh tables each. */
export async function forEachMethod<T extends object>(
  ctx: BenchContext,
  workload: string,
  measure: (run: ReplicationRun) => Promise<T>,
  options: RunOptions = {},
): Promise<PerMethod<T & Checked>> {
  const native = await runOnce(ctx, 'native', workload, measure, options);
  const ours = await runOnce(ctx, 'ours', workload, measure, options);
  return { native, ours };
}

export async function runOnce<T extends object>(
  ctx: BenchContext,
  method: Method,
  workload: string,
  measure: (run: ReplicationRun) => Promise<T>,
  options: RunOptions = {},
): Promise<T & Checked> {
  const what = `${workload} (${method})`;
  ctx.progress(`${what}...`);
  const { timeoutMs } = ctx.sizes;
  const ours = { ...options.ours, child: ctx.oursAsChild };
  const run = await withTimeout(
    startReplication(ctx.servers, method, timeoutMs, { ...options, ours }),
    timeoutMs,
    `${what}: start`,
  );
  ctx.nativeSubscription ??= run.native;
  try {
    const figures = await withTimeout(measure(run), timeoutMs, what).catch(async (error: Error) => {
      const state = await run.diagnose().catch(() => 'state unknown');
      throw error instanceof BenchFailure ? new BenchFailure(`${error.message} (${state})`) : error;
    });
    const rows = await assertSameRows(ctx.servers.primary, ctx.servers.replica, what);
    return { ...figures, rows };
  } finally {
    await withTimeout(run.stop(), 30_000, `${what}: stop`);
  }
}
