/**
 * The one definition of which captured changes a batch holds, used by every
 * statement that reads, counts, acknowledges or prunes a change log.
 *
 * A batch between snapshots `from` and `to` is exactly the changes whose
 * transactions are visible in `to` and were not visible in `from` (the
 * PgQ/Londiste technique). Change ids are handed out before commit, so "ids
 * above N" would skip a transaction that commits late; visibility cannot.
 * A transaction not visible in `from` either started after it (txid at or
 * above from's xmax) or was in progress then (one of from's xip): an index
 * range from xmax plus a lookup per in-progress id, so the cost is the batch,
 * not the log's history, even while an old transaction stays open.
 */

/** SQL boolean: the change's transaction (`txid`, an xid8) committed between `from` and `to` (pg_snapshot expressions). */
export function committedBetween(txid: string, from: string, to: string): string {
  return `(${txid} < pg_catalog.pg_snapshot_xmax(${to}) AND pg_catalog.pg_visible_in_snapshot(${txid}, ${to})
    AND (${txid} >= pg_catalog.pg_snapshot_xmax(${from})
         OR ${txid} = ANY (ARRAY(SELECT pg_catalog.pg_snapshot_xip(${from})))))`;
}

/** SQL boolean: the change's transaction had ended (committed or aborted) before `snapshot`'s horizon, so the replica holding `snapshot` needs it no more. */
export function endedBefore(txid: string, snapshot: string): string {
  return `${txid} < pg_catalog.pg_snapshot_xmin(${snapshot})`;
}

/** SQL boolean: the change's transaction is not yet held by a replica at `snapshot` (NULL: none yet). */
export function notYetHeld(txid: string, snapshot: string): string {
  return `(${snapshot} IS NULL OR ${txid} >= pg_catalog.pg_snapshot_xmax(${snapshot})
    OR ${txid} = ANY (ARRAY(SELECT pg_catalog.pg_snapshot_xip(${snapshot}))))`;
}
