/**
 * The soak's measurement, run inside the bench's frame (workload.ts: fresh
 * databases, replicator set up with its CLI and started as its own process,
 * the initial copy done, the row-by-row check at the end): a sample before the
 * load, then minute after minute of single-row transactions at a fixed rate
 * (open loop, 8 connections) with a sample at the end of each minute, then the
 * wait until the replica equals the primary.
 *
 * Invariant: every sample taken is in `samples` as soon as it is taken, so a
 * run that fails part-way still shows what it saw; every wait is bounded (a
 * minute's writes take a minute plus the commits in flight; the final
 * catch-up at most `timeoutMs`).
 */
import { assertSameRows, BenchFailure, type ComparedTable, now, round, waitUntil } from '../measure.js';
import type { ReplicationRun } from '../methods.js';
import { sampleRss } from '../rss-sampler.js';
import { type RunDatabases, WRITER_CONNECTIONS } from '../servers.js';
import { runPaced } from '../writers.js';
import { mixedWrites } from './mixed-writes.js';
import { type SoakSample, takeSample } from './take-sample.js';

export interface SoakLoad {
  minutes: number;
  /** Transactions per second asked of the writers. */
  rate: number;
  /** Rows in the table before the replicator starts (its initial copy). */
  seededRows: number;
}

export interface SoakFigures {
  transactions: number;
  writes: { inserts: number; updates: number; deletes: number };
  /** Transactions sent ÷ the load's minutes. */
  achievedRate: number;
  /** Last write acknowledged to the replica equal to the primary (row by row). */
  catchUpMs: number;
}

const MINUTE_MS = 60_000;
/** VmRSS between the minute samples, for the lowest and highest of each minute. */
const RSS_EVERY_MS = 1000;

const describeSample = (s: SoakSample) =>
  [
    `RSS ${s.rssMB} MB (minute's low/high ${s.lowRssMB ?? '-'}/${s.highRssMB ?? '-'}), HWM ${s.peakMB} MB`,
    `${s.ratePerSec} tx/s`,
    `state ${s.state ?? 'no answer'}, lag ${s.lagMs ?? '-'} ms, backlog ${s.backlog ?? '-'}, errors ${s.errorCount ?? '-'}`,
    `load average ${s.loadAverage}`,
  ].join('; ');

export async function driveSoak(
  db: RunDatabases,
  run: ReplicationRun,
  tables: readonly ComparedTable[],
  load: SoakLoad,
  samples: SoakSample[],
  progress: (line: string) => void,
  timeoutMs: number,
): Promise<SoakFigures> {
  const child = run.process;
  if (!child) throw new BenchFailure('soak: the method has no process of its own');
  const first = await takeSample(child, 0, 0, { transactions: 0, seconds: 0 }, null);
  samples.push(first);
  progress(`soak, minute 0 (before the load): ${describeSample(first)}`);
  const writes = mixedWrites(load.seededRows);
  const started = now();
  let transactions = 0;
  let lastWrite = started;
  for (let minute = 1; minute <= load.minutes; minute++) {
    const sliceStart = now();
    const rss = sampleRss(child, RSS_EVERY_MS);
    const paced = await runPaced(db.writers, WRITER_CONNECTIONS, load.rate, MINUTE_MS, () => writes.next())
      .catch((error: Error) => {
        throw new BenchFailure(`soak, minute ${minute}: a write on the primary failed: ${error.message}`);
      })
      .finally(() => rss.stop());
    transactions += paced.issued;
    lastWrite = paced.lastEnd;
    const sample = await takeSample(
      child,
      minute,
      (now() - started) / 1000,
      { transactions: paced.issued, seconds: (paced.lastEnd - sliceStart) / 1000 },
      await rss.stop(),
    );
    samples.push(sample);
    progress(`soak, minute ${minute} of ${load.minutes}: ${describeSample(sample)}`);
  }
  const equal = async () => {
    try {
      await assertSameRows(db.primary, db.replica, tables, 'soak');
      return true;
    } catch (error) {
      if (error instanceof BenchFailure) return false;
      throw error;
    }
  };
  progress('soak: load done; waiting until the replica equals the primary, row by row...');
  const caughtUp = await waitUntil('soak: the replica equal to the primary after the load', equal, timeoutMs, 250);
  return {
    transactions,
    writes: writes.counts(),
    achievedRate: round(transactions / (load.minutes * 60)),
    catchUpMs: round(Math.max(0, caughtUp - lastWrite)),
  };
}
