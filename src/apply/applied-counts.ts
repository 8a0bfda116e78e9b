/** What a batch did to the replica's rows (a key changed twice in a batch counts once). */
export interface AppliedCounts {
  upserted: number;
  deleted: number;
  truncated: number;
}

export const noneApplied = (): AppliedCounts => ({ upserted: 0, deleted: 0, truncated: 0 });
