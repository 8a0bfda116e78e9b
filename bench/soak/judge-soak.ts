/**
 * The soak's verdict from its samples. Invariant: a run passes only when
 * memory is flat after warm-up, replication kept up with the load, the
 * replicator reported no error and nothing differing, and the writers really
 * sent the load asked; every failure is one sentence naming what and by how
 * much. (That the copies end equal is checked row by row before this runs.)
 *
 * Flat: the median VmRSS of the samples in the last third of the run after
 * warm-up against the median of the first third; growth above
 * GROWTH_LIMIT_MB fails.
 */
import { median, round } from '../measure.js';
import type { SoakLoad } from './drive-soak.js';
import type { SoakSample } from './take-sample.js';

/**
 * Why 20 MB, absolute, and no percentage: at 500 transactions/s the first and
 * the last third of a 30-minute run are about 20 minutes (600,000
 * transactions) apart, so 20 MB catches anything that keeps about 33 bytes per
 * transaction, or 1 MB a minute, whatever keeps it. Less would be V8's own
 * swing: a minute sample lands anywhere on the heap's saw-tooth (young
 * generation filled and emptied many times a second, old space collected when
 * V8 decides), which moves single samples by 10 MB and more; the median of
 * each third takes most of that out. A percentage of the whole RSS would
 * mostly be a percentage of the idle process (code, V8's heap reserve,
 * about 85–100 MB), which does not leak.
 */
export const GROWTH_LIMIT_MB = 20;

/** Behind at the end: more than this many seconds of the load's writes not yet on the replica. */
export const BEHIND_LIMIT_SECONDS = 30;

/** The writers must send at least this share of the asked rate, or the run did not soak at that rate. */
export const MIN_RATE_SHARE = 0.9;

/** Samples before this minute are warm-up (JIT, pools and caches filling); two minutes, or a third of a short run. */
export const warmupMinutes = (minutes: number): number => Math.min(2, Math.floor(minutes / 3));

export interface SoakGrowth {
  /** Whether there were samples enough (3 after warm-up) to judge. */
  judged: boolean;
  firstMinutes: number[];
  lastMinutes: number[];
  firstMedianMB: number;
  lastMedianMB: number;
  growthMB: number;
  growthPercent: number;
  limitMB: number;
}

export interface SoakVerdict {
  warmupMinutes: number;
  growth: SoakGrowth;
  /** The highest backlog and lag /status reported after warm-up, and at the last sample. */
  maxBacklog: number | null;
  maxLagMs: number | null;
  finalBacklog: number | null;
  finalLagMs: number | null;
  failures: string[];
}

function growthOf(samples: readonly SoakSample[], warmup: number): SoakGrowth {
  const after = samples.filter((s) => s.minute >= Math.max(1, warmup));
  const third = Math.max(1, Math.floor(after.length / 3));
  const first = after.slice(0, third);
  const last = after.slice(-third);
  const firstMedianMB = median(first.map((s) => s.rssMB));
  const lastMedianMB = median(last.map((s) => s.rssMB));
  const growthMB = lastMedianMB - firstMedianMB;
  return {
    judged: after.length >= 3,
    firstMinutes: first.map((s) => s.minute),
    lastMinutes: last.map((s) => s.minute),
    firstMedianMB: round(firstMedianMB),
    lastMedianMB: round(lastMedianMB),
    growthMB: round(growthMB),
    growthPercent: round((growthMB / firstMedianMB) * 100),
    limitMB: GROWTH_LIMIT_MB,
  };
}

const maxOf = (values: readonly (number | null)[]): number | null => {
  const known = values.filter((v): v is number => v !== null);
  return known.length > 0 ? Math.max(...known) : null;
};

export function judgeSoak(samples: readonly SoakSample[], load: SoakLoad): SoakVerdict {
  const warmup = warmupMinutes(load.minutes);
  const growth = growthOf(samples, warmup);
  const loaded = samples.filter((s) => s.minute >= Math.max(1, warmup));
  const last = samples[samples.length - 1];
  const failures: string[] = [];
  if (!growth.judged) {
    failures.push(
      `memory growth not judged: ${loaded.length} sample(s) after the ${warmup}-minute warm-up, 3 needed (run at least 3 minutes)`,
    );
  } else if (growth.growthMB > GROWTH_LIMIT_MB) {
    failures.push(
      `memory grew: median VmRSS ${growth.firstMedianMB} MB over minutes ${growth.firstMinutes.join(', ')}, ${growth.lastMedianMB} MB over minutes ${growth.lastMinutes.join(', ')} (+${growth.growthMB} MB, more than ${GROWTH_LIMIT_MB} MB)`,
    );
  }
  const behindChanges = load.rate * BEHIND_LIMIT_SECONDS;
  if (last && ((last.backlog ?? 0) > behindChanges || (last.lagMs ?? 0) > BEHIND_LIMIT_SECONDS * 1000)) {
    failures.push(
      `replication fell behind: at minute ${last.minute} /status said backlog ${last.backlog} changes, lag ${last.lagMs} ms (limit: ${BEHIND_LIMIT_SECONDS} s of the load, ${behindChanges} changes)`,
    );
  }
  if (last && last.state !== 'running')
    failures.push(`the replicator's state at minute ${last.minute} was ${last.state ?? 'no /status answer'}, not running`);
  const errors = last?.errorCount ?? 0;
  if (errors > 0)
    failures.push(`the replicator reported ${errors} replication error(s); the last: ${last?.lastError ?? 'unknown'}`);
  const divergent = last?.verifyDivergentRows ?? 0;
  if (divergent > 0) failures.push(`continuous verification reported ${divergent} row(s) differing`);
  const sent = samples.reduce((n, s) => n + s.transactions, 0);
  const rate = sent / (load.minutes * 60);
  if (rate < load.rate * MIN_RATE_SHARE) {
    failures.push(
      `the writers sent ${round(rate)} transactions/s, not the ${load.rate} asked (under ${MIN_RATE_SHARE * 100}%: the primary or the machine could not keep up, so this run does not show that load)`,
    );
  }
  return {
    warmupMinutes: warmup,
    growth,
    maxBacklog: maxOf(loaded.map((s) => s.backlog)),
    maxLagMs: maxOf(loaded.map((s) => s.lagMs)),
    finalBacklog: last?.backlog ?? null,
    finalLagMs: last?.lagMs ?? null,
    failures,
  };
}
