/**
 * memory: the replicator process's peak resident memory while it replicates
 * the bulk transaction. VmHWM is the kernel's high-water mark for the
 * process's whole life (start-up included); VmRSS is also sampled every 10 ms
 * to show the idle baseline and the peak during the batch.
 */
import { BenchFailure, now, round, sleep, waitUntil } from '../measure.js';
import type { ReplicationMethod } from '../methods.js';
import { sampleRss } from '../rss-sampler.js';
import type { BenchContext, Checked } from '../workload.js';
import { runOnce } from '../workload.js';
import { haveIds, insertRange, itemsSetup } from './statements.js';

export interface MemoryFigures {
  rows: number;
  /** VmHWM at the end: the figure the target applies to. */
  peakRssMB: number;
  idleRssMB: number;
  /** Highest VmRSS sample during the bulk batch. */
  sampledPeakRssMB: number;
  /** The bulk figure again, under memory sampling. */
  catchUpMs: number;
  rowsPerSec: number;
}

export function runMemory(
  ctx: BenchContext,
  method: ReplicationMethod,
  nodeFlags: readonly string[] = [],
): Promise<MemoryFigures & Checked> {
  const rows = ctx.sizes.memoryBulkRows;
  return runOnce(
    ctx,
    method,
    `memory: bulk ${rows} rows, replicator process sampled`,
    itemsSetup({}, { nodeFlags }),
    async (db, run) => {
      const child = run.process;
      if (!child) throw new BenchFailure(`memory: method ${method.name} has no process of its own`);
      await sleep(500); // let start-up garbage settle before reading the idle figure
      const idleRssMB = child.memory().rssMB;
      const sampler = sampleRss(child, 10);
      try {
        await db.primary.query(insertRange(1, rows));
        const committed = now();
        const caughtUp = await waitUntil(
          'memory: replica holds every row',
          () => haveIds(db.replica, [rows]),
          ctx.sizes.timeoutMs,
        );
        const sampled = await sampler.stop();
        return {
          rows,
          peakRssMB: round(child.memory().peakMB),
          idleRssMB: round(idleRssMB),
          sampledPeakRssMB: round(Math.max(idleRssMB, sampled.highMB)),
          catchUpMs: round(caughtUp - committed),
          rowsPerSec: Math.round(rows / ((caughtUp - committed) / 1000)),
        };
      } finally {
        await sampler.stop();
      }
    },
  );
}
