/**
 * The frame every comparative workload runs in: for each method, fresh
 * databases with the workload's tables, replication started and caught up,
 * the measurement (bounded by the timeout), the row-by-row check that the
 * replica equals the primary, then replication stopped and the databases
 * dropped, whatever happened.
 */

import { assertSameRows, BenchFailure, type ComparedTable, now, round, sleep, waitUntil, withTimeout } from './measure.js';
import type { PerMethod, ReplicationMethod, ReplicationRun } from './methods.js';
import type { SpawnOptions } from './replicator-process.js';
import { type BenchServers, freshDatabases, type RunDatabases } from './servers.js';
import type { Sizes } from './sizes.js';

/** The longest an initial copy may take while it still progresses. */
const INITIAL_COPY_LIMIT_MS = 600_000;

export interface BenchContext {
  servers: BenchServers;
  sizes: Sizes;
  /** Progress lines (stderr), so stdout carries only the result table. */
  progress: (line: string) => void;
  /** The methods to compare, in order (all of them unless --methods). */
  methods: readonly ReplicationMethod[];
  /** Each method's effective settings, as first seen: part of the results. */
  methodSettings: PerMethod<Record<string, string | boolean>>;
}

export interface RunSetup {
  /** The tables replicated and compared at the end. */
  tables: readonly ComparedTable[];
  /** Creates the tables on the run's fresh databases (plain SQL), unless they come from a template. */
  create?: (db: RunDatabases) => Promise<void>;
  /** Template databases to create the run's databases from. */
  templates?: { primary?: string; replica?: string };
  /** For the replicator's process: extra environment (seed mode), Node flags (--cpu-prof). */
  spawn?: SpawnOptions;
  /** How long the measurement itself runs by design (a soak's minutes), on top of its usual bound. */
  measureMs?: number;
}

export interface Checked {
  /** Rows per table at the end, equal on both sides. */
  replicaRows: Record<string, number>;
  /** From starting the method to the replica holding the tables' rows (initial copy included). */
  readySeconds: number;
}

/** Every selected method, in order, on fresh databases each. */
export async function forEachMethod<T extends object>(
  ctx: BenchContext,
  workload: string,
  setup: RunSetup,
  measure: (db: RunDatabases, run: ReplicationRun) => Promise<T>,
): Promise<PerMethod<T & Checked>> {
  const results: PerMethod<T & Checked> = {};
  for (const method of ctx.methods) results[method.name] = await runOnce(ctx, method, workload, setup, measure);
  return results;
}

async function counts(db: RunDatabases, tables: readonly ComparedTable[]): Promise<{ primary: string[]; replica: string[] }> {
  const sql = tables.map((t) => `(SELECT count(*) FROM ${t.table})::text`).join(', ');
  const [p, r] = await Promise.all([
    db.primary.query({ text: `SELECT ${sql}`, rowMode: 'array' }),
    db.replica.query({ text: `SELECT ${sql}`, rowMode: 'array' }),
  ]);
  return { primary: (p.rows[0] ?? []) as string[], replica: (r.rows[0] ?? []) as string[] };
}

/**
 * Until the replica holds as many rows as the primary in every table (nothing
 * writes meanwhile). An initial copy of a large table takes a while on a busy
 * machine: this fails when the replica's counts have not moved for timeoutMs,
 * or at INITIAL_COPY_LIMIT, not while the copy progresses.
 */
async function waitForInitialRows(db: RunDatabases, tables: readonly ComparedTable[], timeoutMs: number): Promise<void> {
  const limit = now() + Math.max(INITIAL_COPY_LIMIT_MS, timeoutMs);
  let last = await counts(db, tables);
  let movedAt = now();
  const describe = () => tables.map((t, i) => `${t.table} ${last.replica[i]} of ${last.primary[i]} rows`).join(', ');
  while (!last.primary.every((n, i) => last.replica[i] === n)) {
    if (now() - movedAt > timeoutMs) {
      throw new BenchFailure(
        `replica rows: no progress towards the primary's for ${Math.round(timeoutMs / 1000)} s (${describe()})`,
      );
    }
    if (now() > limit)
      throw new BenchFailure(`replica rows: not equal to the primary's within ${INITIAL_COPY_LIMIT_MS / 1000} s (${describe()})`);
    await sleep(50);
    const next = await counts(db, tables);
    if (next.replica.some((n, i) => n !== last.replica[i])) movedAt = now();
    last = next;
  }
}

/**
 * Before the clock starts: both servers checkpointed (so no checkpoint
 * started by the setup's writes lands in the measurement), and no other
 * session busy on the primary (a replicator acknowledging its last batch).
 */
export async function settle(db: RunDatabases, timeoutMs: number): Promise<void> {
  await Promise.all([db.primary.query('CHECKPOINT'), db.replica.query('CHECKPOINT')]);
  let quiet = 0;
  await waitUntil(
    `no other session active on the primary's database ${db.name}`,
    async () => {
      const { rows } = await db.primary.query(
        "SELECT FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND backend_type = 'client backend'",
      );
      quiet = rows.length === 0 ? quiet + 1 : 0;
      return quiet >= 3;
    },
    timeoutMs,
    10,
  );
}

export async function runOnce<T extends object>(
  ctx: BenchContext,
  method: ReplicationMethod,
  workload: string,
  setup: RunSetup,
  measure: (db: RunDatabases, run: ReplicationRun) => Promise<T>,
): Promise<T & Checked> {
  const what = `${workload} (${method.name})`;
  ctx.progress(`${what}...`);
  const { timeoutMs } = ctx.sizes;
  // Each step's own waits are bounded by timeoutMs and say what did not happen; this outer bound, twice
  // that, catches what has no wait of its own (a query that never returns) without masking their messages.
  const bound = 2 * timeoutMs;
  const db = await withTimeout(freshDatabases(ctx.servers, method.name, setup.templates), bound, `${what}: fresh databases`);
  try {
    await setup.create?.(db);
    const started = now();
    const run = await withTimeout(
      method.start(
        db,
        setup.tables.map((t) => t.table),
        timeoutMs,
        setup.spawn,
      ),
      bound,
      `${what}: start`,
    );
    ctx.methodSettings[method.name] ??= run.settings;
    try {
      const failed = async (error: unknown) => {
        const state = await run.diagnose().catch(() => 'state unknown');
        throw error instanceof BenchFailure ? new BenchFailure(`${error.message} (${state})`) : error;
      };
      await waitForInitialRows(db, setup.tables, timeoutMs).catch(failed);
      const readySeconds = round((now() - started) / 1000, 2);
      await withTimeout(settle(db, timeoutMs), bound, `${what}: settle`);
      const figures = await withTimeout(measure(db, run), bound + (setup.measureMs ?? 0), what).catch(failed);
      const replicaRows = await assertSameRows(db.primary, db.replica, setup.tables, what);
      return { ...figures, replicaRows, readySeconds };
    } finally {
      await withTimeout(run.stop(), 30_000, `${what}: stop`);
    }
  } finally {
    await withTimeout(db.drop(), 60_000, `${what}: drop its databases`);
  }
}
