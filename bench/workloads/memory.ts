/**
 * memory: pg-replicator's peak resident memory while it replicates the bulk
 * transaction, run as its own process. VmHWM is the kernel's high-water mark
 * for the process's whole life (start-up included); VmRSS is also sampled
 * every 10 ms to show the idle baseline and the peak during the batch.
 */
import { assertSameRows, now, round, sleep, waitUntil } from '../measure.js';
import { serverNow, waitForListener } from '../ours-replication.js';
import { resetBoth } from '../replication.js';
import { startReplicatorChild } from '../replicator-child.js';
import type { BenchContext } from '../workload.js';
import { haveIds, insertRange } from './statements.js';

export interface MemoryFigures {
  rows: number;
  /** VmHWM at the end: the figure the target applies to. */
  peakRssMB: number;
  idleRssMB: number;
  /** Highest VmRSS sample during the bulk batch. */
  sampledPeakRssMB: number;
  /** The bulk figure again, from the separate process: compare with the in-process run. */
  catchUpMs: number;
  rowsPerSec: number;
}

export async function runMemory(ctx: BenchContext, nodeFlags: readonly string[] = []): Promise<MemoryFigures> {
  const { primary, replica, primaryUrl, replicaUrl } = ctx.servers;
  const rows = ctx.sizes.memoryBulkRows;
  ctx.progress(`memory: bulk ${rows} rows through a separate replicator process...`);
  await resetBoth(ctx.servers, { capture: true });
  const since = await serverNow(primary);
  const child = await startReplicatorChild({ primaryUrl, replicaUrl }, ctx.sizes.timeoutMs, { nodeFlags });
  let sampling = true;
  try {
    await waitForListener(primary, since, ctx.sizes.timeoutMs);
    await sleep(500); // let start-up garbage settle before reading the idle figure
    const idleRssMB = child.memory().rssMB;
    let sampledPeakRssMB = idleRssMB;
    const sampler = (async () => {
      while (sampling) {
        sampledPeakRssMB = Math.max(sampledPeakRssMB, child.memory().rssMB);
        await sleep(10);
      }
    })();
    await primary.query(insertRange(1, rows));
    const committed = now();
    const caughtUp = await waitUntil(
      'memory: replica holds every row',
      () => haveIds(replica, [rows]),
      ctx.sizes.timeoutMs,
    ).catch((error: Error) => Promise.reject(new Error(`${error.message}; replicator output: ${child.output().trim()}`)));
    sampling = false;
    await sampler;
    const peakRssMB = child.memory().peakMB;
    await assertSameRows(primary, replica, 'memory');
    return {
      rows,
      peakRssMB: round(peakRssMB),
      idleRssMB: round(idleRssMB),
      sampledPeakRssMB: round(sampledPeakRssMB),
      catchUpMs: round(caughtUp - committed),
      rowsPerSec: Math.round(rows / ((caughtUp - committed) / 1000)),
    };
  } finally {
    sampling = false;
    await child.stop();
  }
}
