/**
 * One soak sample: the replicator process's memory from /proc (VmRSS now,
 * VmHWM so far) and its own account of how far behind it is (/status: lag,
 * backlog, state, errors). Invariant: a sample is taken only of a live
 * process: when /proc has no memory figures for it any more (it exited), this
 * fails with the process's last output instead of recording a gap.
 */
import { BenchFailure, round } from '../measure.js';
import type { ReplicatorProcess } from '../replicator-process.js';
import { loadAverage } from '../results.js';
import type { RssRange } from '../rss-sampler.js';

export interface SoakSample {
  /** 0: after set-up and the initial copy, before the load; n: at the end of the load's minute n. */
  minute: number;
  /** Seconds since the load started (negative for minute 0: taken just before). */
  atSeconds: number;
  /** VmRSS at the sample, MB (10^6 bytes). */
  rssMB: number;
  /** VmHWM at the sample: the highest resident memory since the process started. */
  peakMB: number;
  /** Lowest and highest VmRSS sampled every second during this minute (null for minute 0). */
  lowRssMB: number | null;
  highRssMB: number | null;
  /** Transactions the writers sent during this minute, and their rate. */
  transactions: number;
  ratePerSec: number;
  /** From /status (null when it did not answer). */
  state: string | null;
  lagMs: number | null;
  lastBatchLagMs: number | null;
  backlog: number | null;
  batches: number | null;
  recordsReplicated: number | null;
  errorCount: number | null;
  lastError: string | null;
  /** Rows continuous verification reports as differing (all tables; null when it is off). */
  verifyDivergentRows: number | null;
  loadAverage: number;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

export async function takeSample(
  child: ReplicatorProcess,
  minute: number,
  atSeconds: number,
  load: { transactions: number; seconds: number },
  range: RssRange | null,
): Promise<SoakSample> {
  let memory: { rssMB: number; peakMB: number };
  try {
    memory = child.memory();
  } catch {
    memory = { rssMB: Number.NaN, peakMB: Number.NaN };
  }
  if (!Number.isFinite(memory.rssMB)) {
    throw new BenchFailure(
      `soak, minute ${minute}: the replicator process has exited; its output: ${child.output() || '(none)'}`,
    );
  }
  const s = await child.status();
  const verify = s?.verify as { tables?: Array<{ divergent_rows?: number }> } | undefined;
  const hasRange = range !== null && range.samples > 0;
  const batchLag = num(s?.last_batch_lag_ms);
  return {
    minute,
    atSeconds: round(atSeconds),
    rssMB: round(memory.rssMB),
    peakMB: round(memory.peakMB),
    lowRssMB: hasRange ? round(range.lowMB) : null,
    highRssMB: hasRange ? round(range.highMB) : null,
    transactions: load.transactions,
    ratePerSec: load.seconds > 0 ? round(load.transactions / load.seconds) : 0,
    state: typeof s?.state === 'string' ? s.state : null,
    lagMs: num(s?.lag_ms),
    lastBatchLagMs: batchLag === null ? null : round(batchLag, 2),
    backlog: num(s?.backlog),
    batches: num(s?.batches),
    recordsReplicated: num(s?.records_replicated),
    errorCount: num(s?.error_count),
    lastError: typeof s?.last_error === 'string' ? s.last_error : null,
    verifyDivergentRows: verify?.tables ? verify.tables.reduce((n, t) => n + (t.divergent_rows ?? 0), 0) : null,
    loadAverage: loadAverage(),
  };
}
