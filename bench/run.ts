/**
 * `npm run bench`: pg-replicator against PostgreSQL's native logical
 * replication on the same two embedded servers, workload by workload, then
 * one comparison table. The full run refreshes BENCHMARKS.md and writes the
 * raw figures to bench/results/; `--quick` is the cut-down smoke test CI runs
 * (exit 0 whatever the timings, non-zero only when replication fails or the
 * copies differ) and writes nothing.
 *
 *   npm run bench [-- --quick] [--only bulk,lag] [--ours-process] [--cpu-prof <dir>]
 *
 * --only runs some workloads and writes nothing. --ours-process runs
 * pg-replicator as a separate process in every workload (default: in this
 * process, via startService); its results JSON is marked, BENCHMARKS.md is
 * left alone. --cpu-prof writes a CPU profile of the memory workload's
 * replicator process to <dir>.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { updateBenchmarksMd } from './benchmarks-md.js';
import { BenchFailure, now, withTimeout } from './measure.js';
import { buildRows, renderText } from './report.js';
import { type BenchResults, describeEnvironment, type Workloads, writeResults } from './results.js';
import { type BenchServers, startBenchServers } from './servers.js';
import { FULL, QUICK } from './sizes.js';
import type { BenchContext } from './workload.js';
import { runBulk } from './workloads/bulk.js';
import { runCaptureCost } from './workloads/capture-cost.js';
import { runDelete, runOltp, runUpdate } from './workloads/closed-loop.js';
import { runLag, runSeedLag } from './workloads/lag.js';
import { runMemory } from './workloads/memory.js';

const WORKLOADS = [
  'bulk',
  'oltp',
  'update',
  'delete',
  'lag',
  'capture',
  'memory',
  'seed',
] as const satisfies readonly (keyof Workloads)[];

function parseOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      'ours-process': { type: 'boolean', default: false },
    },
  });
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((name) => !(WORKLOADS as readonly string[]).includes(name)) ?? [];
  if (unknown.length > 0)
    throw new BenchFailure(`--only: unknown workload ${unknown.join(', ')}; choose from ${WORKLOADS.join(', ')}`);
  return { quick: values.quick, only, cpuProfDir: values['cpu-prof'], oursAsChild: values['ours-process'] };
}

async function runWorkloads(
  ctx: BenchContext,
  selected: ReadonlySet<string>,
  cpuProfDir: string | undefined,
): Promise<Partial<Workloads>> {
  const w: Partial<Workloads> = {};
  // Each workload's own waits are bounded by the timeout; this bounds the
  // whole workload too (both methods, set-up included).
  const bound = <T>(name: string, work: () => Promise<T>) => withTimeout(work(), ctx.sizes.timeoutMs * 3, name);
  if (selected.has('bulk')) w.bulk = await bound('bulk', () => runBulk(ctx));
  if (selected.has('oltp')) w.oltp = await bound('oltp', () => runOltp(ctx));
  if (selected.has('update')) w.update = await bound('update', () => runUpdate(ctx));
  if (selected.has('delete')) w.delete = await bound('delete', () => runDelete(ctx));
  if (selected.has('lag')) w.lag = await bound('lag', () => runLag(ctx));
  if (selected.has('capture')) w.capture = await bound('capture', () => runCaptureCost(ctx));
  const profile = cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : [];
  if (selected.has('memory')) w.memory = await bound('memory', () => runMemory(ctx, profile));
  if (selected.has('seed')) w.seed = await bound('seed', () => runSeedLag(ctx));
  return w;
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n`);
    return 2;
  }
  const sizes = options.quick ? QUICK : FULL;
  const started = now();
  const progress = (line: string) => process.stderr.write(`[${((now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
  progress(`starting two PostgreSQL servers (${options.quick ? 'quick' : 'full'} run)...`);
  let servers: BenchServers | undefined;
  try {
    servers = await withTimeout(startBenchServers(), sizes.timeoutMs, 'starting the servers');
    // Before the run: the code measured is the code checked out when it started.
    const environment = describeEnvironment(servers.postgresVersion);
    const ctx: BenchContext = { servers, sizes, progress, oursAsChild: options.oursAsChild };
    const workloads = await runWorkloads(ctx, new Set(options.only ?? WORKLOADS), options.cpuProfDir);
    const results: BenchResults = {
      ...environment,
      quick: options.quick,
      oursProcess: options.oursAsChild ? 'separate' : 'in-process',
      sizes,
      nativeSubscription: ctx.nativeSubscription,
      workloads,
      totalSeconds: (now() - started) / 1000,
      loadAverageAtEnd: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    };
    const rows = buildRows(results);
    process.stdout.write(`\n${renderText(rows)}\n\n`);
    // Only complete full runs are results worth keeping; BENCHMARKS.md shows the standard one.
    if (!options.quick && !options.only) {
      const file = writeResults(results);
      progress(`wrote ${file}`);
      if (!options.oursAsChild) progress(`refreshed ${updateBenchmarksMd(results, rows, file)}`);
    }
    progress('done; all replicas matched their primaries');
    return 0;
  } catch (error) {
    process.stderr.write(
      `\nbench failed: ${error instanceof BenchFailure ? error.message : ((error as Error).stack ?? String(error))}\n`,
    );
    return 1;
  } finally {
    await servers?.stop().catch(() => {});
  }
}

// Exit explicitly: a failed run may leave a timed-out query or timer behind.
process.exit(await main());
