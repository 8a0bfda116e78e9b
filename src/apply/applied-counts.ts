import type { ReplicatedTable } from '../tables/table-model.js';

/** What a batch did to the replica's rows (a key changed twice in a batch counts once). */
export interface AppliedCounts {
  upserted: number;
  deleted: number;
  truncated: number;
  /**
   * Per table: UPDATEs that left a TOASTed value out, of rows the replica
   * does not hold, so not applied (table-statements.ts, resolveUnchanged).
   */
  leftOut?: Map<ReplicatedTable, number>;
}

export const noneApplied = (): AppliedCounts => ({ upserted: 0, deleted: 0, truncated: 0 });
