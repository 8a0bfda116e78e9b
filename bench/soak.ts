/**
 * `npm run soak`: does the replicator's memory stay flat under a steady load?
 * The bench's two servers (fsync and synchronous_commit on), pg-replicator set
 * up on bench.items with its CLI as the README says and `replicator run` as
 * its own compiled process (the bench's frame, workload.ts), then 500
 * single-row transactions per second (inserts, updates, deletes) for
 * SOAK_MINUTES (default 30, or --minutes N), the process's VmRSS and VmHWM and
 * its /status (lag, backlog) sampled before the load and at the end of every
 * minute, and at the end the replica checked equal to the primary, row by row.
 *
 *   npm run soak [-- --minutes N]
 *
 * Invariant: exit 0 only when the copies are equal, memory did not grow (the
 * last third of the run after warm-up against the first, judge-soak.ts),
 * replication kept up and the load was really sent; otherwise 1 with every
 * failure named (2 for bad arguments). The samples table and the results JSON
 * (bench/results/soak-<date>-<commit>[-<n>min].json) are written either way.
 */
import { parseArgs } from 'node:util';
import { BenchFailure, now, round, withTimeout } from './measure.js';
import { METHODS } from './method-list.js';
import { killLeftoverReplicators, prepareReplicator, type ReplicatorBuild } from './replicator-process.js';
import { describeEnvironment, loadAverage } from './results.js';
import { createItems, ITEMS_TABLE } from './schema.js';
import { type BenchServers, startBenchServers } from './servers.js';
import { FULL } from './sizes.js';
import { driveSoak, type SoakFigures, type SoakLoad } from './soak/drive-soak.js';
import { judgeSoak, type SoakVerdict, warmupMinutes } from './soak/judge-soak.js';
import { renderSamples, renderVerdict } from './soak/render-soak.js';
import type { SoakSample } from './soak/take-sample.js';
import { writeSoakResults } from './soak/write-soak-results.js';
import { type BenchContext, type Checked, type RunSetup, runOnce } from './workload.js';
import { insertRange } from './workloads/statements.js';

const DEFAULT_MINUTES = 30;
const RATE = 500;
const SEEDED_ROWS = 10_000;

function parseMinutes(): number {
  const { values } = parseArgs({ options: { minutes: { type: 'string' } } });
  const text = values.minutes ?? process.env.SOAK_MINUTES ?? String(DEFAULT_MINUTES);
  const minutes = Number(text);
  // Three minutes at least: with fewer there are not three samples after warm-up to compare.
  if (!Number.isInteger(minutes) || minutes < 3 || minutes > 24 * 60) {
    throw new BenchFailure(`--minutes / SOAK_MINUTES: "${text}" is not a whole number of minutes from 3 to 1440`);
  }
  return minutes;
}

async function main(): Promise<number> {
  let minutes: number;
  try {
    minutes = parseMinutes();
  } catch (error) {
    process.stderr.write(`soak: ${(error as Error).message}\n`);
    return 2;
  }
  const sizes = FULL;
  const load: SoakLoad = { minutes, rate: RATE, seededRows: SEEDED_ROWS };
  const started = now();
  const progress = (line: string) => process.stderr.write(`[${((now() - started) / 1000).toFixed(1).padStart(7)} s] ${line}\n`);
  // Before the run: the code measured is the code checked out when it started.
  const environment = describeEnvironment('');
  const method = METHODS.find((m) => m.name === 'ours');
  if (!method) throw new Error('the bench has no method named ours');
  const samples: SoakSample[] = [];
  let servers: BenchServers | undefined;
  let replicator: ReplicatorBuild | undefined;
  let figures: (SoakFigures & Checked) | undefined;
  let error: string | undefined;
  const ctx: Omit<BenchContext, 'servers'> = { sizes, progress, methods: [method], methodSettings: {} };
  try {
    replicator = await prepareReplicator(progress);
    progress('starting two PostgreSQL servers...');
    servers = await withTimeout(startBenchServers(), sizes.timeoutMs, 'starting the servers');
    if (servers.dataFileSystem === 'tmpfs') progress('warning: the data folder is on tmpfs, where fsync costs nothing');
    const setup: RunSetup = {
      tables: [ITEMS_TABLE],
      create: async (db) => {
        await createItems(db.primary, db.replica);
        await db.primary.query(insertRange(1, SEEDED_ROWS));
      },
      measureMs: minutes * 60_000 + sizes.timeoutMs,
    };
    const what = `soak: ${RATE} tx/s for ${minutes} min on ${SEEDED_ROWS.toLocaleString('en-US')} rows`;
    const bench: BenchContext = { ...ctx, servers };
    figures = await withTimeout(
      runOnce(bench, method, what, setup, (db, run) =>
        driveSoak(db, run, setup.tables, load, samples, progress, sizes.timeoutMs),
      ),
      minutes * 60_000 + 8 * sizes.timeoutMs,
      what,
    );
  } catch (e) {
    error = e instanceof BenchFailure ? e.message : ((e as Error).stack ?? String(e));
  } finally {
    const left = killLeftoverReplicators();
    if (left > 0) progress(`killed ${left} replicator process(es) the failed run left behind`);
    await servers?.stop().catch(() => {});
  }
  const verdict: SoakVerdict | undefined = figures ? judgeSoak(samples, load) : undefined;
  const passed = error === undefined && verdict !== undefined && verdict.failures.length === 0;
  process.stdout.write(`\n${renderSamples(samples)}\n\n`);
  if (figures) {
    process.stdout.write(
      `${figures.transactions.toLocaleString('en-US')} transactions (${figures.writes.inserts} inserts, ${figures.writes.updates} updates, ${figures.writes.deletes} deletes), ${figures.achievedRate} tx/s; replica equal to the primary ${figures.catchUpMs} ms after the last write (${figures.replicaRows[ITEMS_TABLE.table]} rows)\n`,
    );
  }
  if (verdict) process.stdout.write(`${renderVerdict(verdict)}\n`);
  if (error) process.stdout.write(`FAIL: ${error}\n`);
  if (replicator && servers) {
    const file = writeSoakResults(
      {
        ...environment,
        postgres: servers.postgresVersion,
        load: { ...load, warmupMinutes: warmupMinutes(minutes), sampleEverySeconds: 60 },
        replicator,
        methodDescription: method.describe(),
        methodSettings: ctx.methodSettings[method.name],
        servers: { ...servers.settings, dataFileSystem: servers.dataFileSystem },
        samples,
        figures,
        verdict,
        error,
        passed,
        totalSeconds: round((now() - started) / 1000),
        loadAverageAtEnd: loadAverage(),
      },
      DEFAULT_MINUTES,
    );
    progress(`wrote ${file}`);
  }
  progress(passed ? `soak passed in ${Math.round((now() - started) / 1000)} s` : 'soak FAILED (see above)');
  return passed ? 0 : 1;
}

// Exit explicitly: a failed run may leave a timed-out query or timer behind.
process.exit(await main());
