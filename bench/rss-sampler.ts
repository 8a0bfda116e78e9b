/**
 * Samples a replicator process's resident memory (VmRSS) at a fixed interval
 * until stopped, keeping the highest and the lowest sample. Sampling never
 * fails the measurement: a read that fails (the process has exited) ends the
 * sampling, and the caller learns of the exit from the process itself.
 */
import { sleep } from './measure.js';
import type { ReplicatorProcess } from './replicator-process.js';

export interface RssRange {
  highMB: number;
  lowMB: number;
  samples: number;
}

export interface RssSampler {
  /** The range sampled so far (the sampler keeps running). */
  peek(): RssRange;
  /** Stops sampling; resolves with the range once the loop has ended. */
  stop(): Promise<RssRange>;
}

export function sampleRss(child: Pick<ReplicatorProcess, 'memory'>, everyMs: number): RssSampler {
  const range: RssRange = { highMB: Number.NEGATIVE_INFINITY, lowMB: Number.POSITIVE_INFINITY, samples: 0 };
  let running = true;
  const loop = (async () => {
    while (running) {
      let rssMB: number;
      try {
        rssMB = child.memory().rssMB;
      } catch {
        return;
      }
      if (Number.isFinite(rssMB)) {
        range.highMB = Math.max(range.highMB, rssMB);
        range.lowMB = Math.min(range.lowMB, rssMB);
        range.samples++;
      }
      await sleep(everyMs);
    }
  })();
  return {
    peek: () => ({ ...range }),
    async stop() {
      running = false;
      await loop;
      return { ...range };
    },
  };
}
