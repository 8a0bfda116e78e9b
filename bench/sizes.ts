/**
 * How much work each workload does: the full run (the figures in
 * BENCHMARKS.md) and the cut-down --quick run that CI uses as a smoke test.
 */
export interface Sizes {
  bulkRows: number;
  oltpTransactions: number;
  updateTransactions: number;
  deleteTransactions: number;
  lagRate: number;
  lagSeconds: number;
  captureBulkRows: number;
  captureSingleRows: number;
  /** Each capture-cost timing is repeated and the median kept: single timings on a busy 2-core machine wander. */
  captureRepeats: number;
  memoryBulkRows: number;
  /** The one large row's value, in bytes (10 MB = 10^7, the unit of the memory target). */
  memoryRowBytes: number;
  seedRate: number;
  seedSeconds: number;
  seedPollInterval: string;
  /** pgbench's TPC-B: scale factor, client connections, seconds per run. */
  pgbenchScale: number;
  pgbenchClients: number;
  pgbenchSeconds: number;
  /** Per workload and method: longer means something is broken, not slow. */
  timeoutMs: number;
}

export const FULL: Sizes = {
  bulkRows: 200_000,
  oltpTransactions: 20_000,
  updateTransactions: 50_000,
  deleteTransactions: 50_000,
  lagRate: 1000,
  lagSeconds: 20,
  captureBulkRows: 200_000,
  captureSingleRows: 20_000,
  captureRepeats: 3,
  memoryBulkRows: 200_000,
  memoryRowBytes: 10_000_000,
  seedRate: 50,
  seedSeconds: 5,
  seedPollInterval: '5s',
  pgbenchScale: 10,
  pgbenchClients: 4,
  pgbenchSeconds: 30,
  timeoutMs: 120_000,
};

export const QUICK: Sizes = {
  bulkRows: 20_000,
  oltpTransactions: 2_000,
  updateTransactions: 2_000,
  deleteTransactions: 2_000,
  lagRate: 1000,
  lagSeconds: 3,
  captureBulkRows: 20_000,
  captureSingleRows: 2_000,
  captureRepeats: 1,
  memoryBulkRows: 20_000,
  // One row either way: the full 10 MB costs a few seconds, and the size is what is checked.
  memoryRowBytes: 10_000_000,
  seedRate: 50,
  seedSeconds: 2,
  seedPollInterval: '5s',
  pgbenchScale: 10,
  pgbenchClients: 4,
  pgbenchSeconds: 5,
  timeoutMs: 60_000,
};
