/**
 * `npm run bench`: pg-replicator against PostgreSQL's native logical
 * replication on the same two embedded servers (fsync and synchronous_commit
 * on, as in production), workload by workload, then one comparison table.
 * pg-replicator always runs as its own processes of the `replicator` command,
 * set up with its CLI as a user does. The full run writes the raw figures to
 * bench/results/ and refreshes BENCHMARKS.md (unless the machine was busy);
 * `--quick` is the cut-down smoke test CI runs (exit 0 whatever the timings,
 * non-zero only when replication fails or the copies differ) and writes
 * nothing.
 *
 *   npm run bench [-- --quick] [--only bulk,lag] [--methods ours] [--cpu-prof <dir>] [--force-md]
 *
 * --only runs some workloads and --methods some methods; either writes
 * nothing. --cpu-prof writes a CPU profile of the memory workload's
 * replicator process to <dir>. --force-md refreshes BENCHMARKS.md even when
 * the load average at the start says other work was competing for the CPUs.
 */
import { parseArgs } from 'node:util';
import { updateBenchmarksMd } from './benchmarks-md.js';
import { BenchFailure, now, withTimeout } from './measure.js';
import { DEFAULT_METHODS, METHODS, YARDSTICK } from './method-list.js';
import type { PerMethod } from './methods.js';
import { killLeftoverReplicators, prepareReplicator } from './replicator-process.js';
import { buildRows, renderText } from './report.js';
import { type BenchResults, describeEnvironment, loadAverage, type Workloads, writeResults } from './results.js';
import { type BenchServers, startBenchServers } from './servers.js';
import { FULL, QUICK } from './sizes.js';
import type { BenchContext } from './workload.js';
import { runBulk } from './workloads/bulk.js';
import { runCaptureCost } from './workloads/capture-cost.js';
import { runDelete, runOltp, runUpdate } from './workloads/closed-loop.js';
import { runLag, runSeedLag } from './workloads/lag.js';
import { runMemory } from './workloads/memory.js';
import { ROW_VALUE_KINDS, runMemoryRow } from './workloads/memory-row.js';
import { findPgbench, runPgbench } from './workloads/pgbench.js';

const WORKLOADS = [
  'bulk',
  'oltp',
  'update',
  'delete',
  'lag',
  'capture',
  'memory',
  'seed',
  'pgbench',
] as const satisfies readonly (keyof Workloads)[];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      methods: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'force-md': { type: 'boolean', default: false },
    },
  });
  const list = (value: string | undefined, allowed: readonly string[], flag: string) => {
    const names = value?.split(',').map((s) => s.trim());
    const unknown = names?.filter((name) => !allowed.includes(name)) ?? [];
    if (unknown.length > 0) throw new BenchFailure(`${flag}: unknown ${unknown.join(', ')}; choose from ${allowed.join(', ')}`);
    return names;
  };
  const only = list(values.only, WORKLOADS, '--only');
  const methodNames = list(
    values.methods,
    METHODS.map((m) => m.name),
    '--methods',
  );
  return {
    quick: values.quick,
    only,
    methods: methodNames ? METHODS.filter((m) => methodNames.includes(m.name)) : DEFAULT_METHODS,
    partial: only !== undefined || methodNames !== undefined,
    cpuProfDir: values['cpu-prof'],
    forceMd: values['force-md'],
  };
}

type Options = ReturnType<typeof parseOptions>;

async function runWorkloads(ctx: BenchContext, options: Options, pgbench: string | undefined): Promise<Partial<Workloads>> {
  const selected = new Set<string>(options.only ?? WORKLOADS);
  const w: Partial<Workloads> = {};
  // Each workload's own waits are bounded by the timeout; this bounds the
  // whole workload too (every method, set-up included).
  const bound = <T>(name: string, work: () => Promise<T>, runs = ctx.methods.length) =>
    withTimeout(work(), ctx.sizes.timeoutMs * 4 * Math.max(1, runs), name);
  const processMethods = ctx.methods.filter((m) => m.installCapture);
  if (selected.has('bulk')) w.bulk = await bound('bulk', () => runBulk(ctx));
  if (selected.has('oltp')) w.oltp = await bound('oltp', () => runOltp(ctx));
  if (selected.has('update')) w.update = await bound('update', () => runUpdate(ctx));
  if (selected.has('delete')) w.delete = await bound('delete', () => runDelete(ctx));
  if (selected.has('lag')) w.lag = await bound('lag', () => runLag(ctx));
  if (selected.has('capture')) {
    const runs = ctx.sizes.captureRepeats * (processMethods.length + 1) * 2;
    w.capture = await bound('capture', () => runCaptureCost(ctx), runs);
  }
  if (selected.has('memory')) {
    const profile = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
    const memory: PerMethod<Awaited<ReturnType<typeof runMemory>>> = {};
    for (const m of processMethods) memory[m.name] = await bound(`memory (${m.name})`, () => runMemory(ctx, m, profile), 1);
    w.memory = memory;
    // Bounded by bytes, not rows: one 10 MB row, carried inline (text) and streamed (bytea).
    const memoryRow: Workloads['memoryRow'] = {};
    for (const kind of ROW_VALUE_KINDS) {
      const perMethod: NonNullable<Workloads['memoryRow'][typeof kind]> = {};
      for (const m of processMethods) {
        perMethod[m.name] = await bound(`memory, one ${kind} row (${m.name})`, () => runMemoryRow(ctx, m, kind), 1);
      }
      memoryRow[kind] = perMethod;
    }
    w.memoryRow = memoryRow;
  }
  // Seed mode is pg-replicator's trigger capture without LISTEN.
  const trigger = ctx.methods.find((m) => m.name === 'ours');
  if (selected.has('seed') && trigger) w.seed = await bound('seed', () => runSeedLag(ctx, trigger), 1);
  if (selected.has('pgbench')) {
    if (!pgbench) {
      w.pgbench = { skipped: 'no pgbench found: set PGBENCH, or install PostgreSQL client tools' };
      ctx.progress(`pgbench: SKIPPED, ${w.pgbench.skipped}`);
    } else {
      const seconds = ctx.sizes.pgbenchSeconds;
      w.pgbench = await withTimeout(
        runPgbench(ctx, pgbench),
        (ctx.methods.length + 1) * (ctx.sizes.timeoutMs * 4 + seconds * 1000),
        'pgbench',
      );
    }
  }
  return w;
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    return 2;
  }
  const sizes = options.quick ? QUICK : FULL;
  const started = now();
  const progress = (line: string) => process.stderr.write(`[${((now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  // Before the run: the code measured is the code checked out when it started.
  const environment = describeEnvironment('');
  const pgbench = findPgbench();
  // A full run's table needs every row: say now, not after minutes, that pgbench is missing.
  if (!pgbench && !options.quick && !options.partial) {
    process.stderr.write('bench: pgbench not found (set PGBENCH, or install the PostgreSQL client tools); --quick skips it\n');
    return 2;
  }
  let servers: BenchServers | undefined;
  try {
    const replicator = await prepareReplicator(progress);
    progress(`starting two PostgreSQL servers (${options.quick ? 'quick' : 'full'} run)...`);
    servers = await withTimeout(startBenchServers(), sizes.timeoutMs, 'starting the servers');
    if (servers.dataFileSystem === 'tmpfs') progress('warning: the data folder is on tmpfs, where fsync costs nothing');
    const ctx: BenchContext = { servers, sizes, progress, methods: options.methods, methodSettings: {} };
    const workloads = await runWorkloads(ctx, options, pgbench);
    const results: BenchResults = {
      ...environment,
      postgres: servers.postgresVersion,
      quick: options.quick,
      methods: ctx.methods.map((m) => m.name),
      yardstick: ctx.methods.includes(YARDSTICK) ? YARDSTICK.name : undefined,
      methodDescriptions: Object.fromEntries(ctx.methods.map((m) => [m.name, m.describe()])),
      methodSettings: ctx.methodSettings,
      replicator,
      servers: { ...servers.settings, dataFileSystem: servers.dataFileSystem },
      sizes,
      workloads,
      totalSeconds: Math.round((now() - started) / 100) / 10,
      loadAverageAtEnd: loadAverage(),
    };
    const rows = buildRows(results);
    process.stdout.write(`\n${renderText(results.methods, results.yardstick, rows)}\n\n`);
    // Only complete full runs are results worth keeping; BENCHMARKS.md shows one from a quiet machine.
    if (!options.quick && !options.partial) {
      const file = writeResults(results);
      progress(`wrote ${file}`);
      // At the start nothing of the benchmark runs yet; at the end its own servers, writers and replicator
      // account for about the CPU count, so more than 1.5 times that means other work joined in.
      const { cpus } = results.machine;
      const busy = results.loadAverageAtStart > cpus / 2 || results.loadAverageAtEnd > cpus * 1.5;
      if (busy && !options.forceMd) {
        progress(
          `BENCHMARKS.md left alone: the 1-minute load average was ${results.loadAverageAtStart} at the start and ${results.loadAverageAtEnd} at the end on ${cpus} CPUs (other work competing); --force-md refreshes it anyway`,
        );
      } else {
        progress(`refreshed ${updateBenchmarksMd(results, rows, file)}`);
      }
    }
    progress(`done in ${Math.round((now() - started) / 1000)} s; every replica matched its primary`);
    return 0;
  } catch (error) {
    process.stderr.write(
      `\nbench failed: ${error instanceof BenchFailure ? error.message : ((error as Error).stack ?? String(error))}\n`,
    );
    return 1;
  } finally {
    const left = killLeftoverReplicators();
    if (left > 0) progress(`killed ${left} replicator process(es) a failed run left behind`);
    await servers?.stop().catch(() => {});
  }
}

// Exit explicitly: a failed run may leave a timed-out query or timer behind.
process.exit(await main());
