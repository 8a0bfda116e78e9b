/**
 * Rewrites confirmed differences on the replica from the primary: the
 * primary's row is upserted, a row the primary does not have is deleted.
 * One replica transaction per table, written the way the replicator applies a
 * batch (the apply's own statements, session_replication_role = replica when permitted).
 *
 * It cannot race the replicator into a wrong state. The transaction first
 * locks replicator.position (EXCLUSIVE: readers go on, no batch can commit a
 * new position until the repair commits), then reads the primary's rows. That
 * read is newer than the locked position P, so for each key either the row
 * did not change after P (the repair writes exactly the primary's row as of
 * P, which is what the replica must hold), or it did, and that change is in a
 * batch the replicator has yet to commit, after the repair: it writes the
 * key again with the newer row. A batch that had already written one of the
 * keys before the lock would make the repair wait on that row while the batch
 * waits on the position: the repair's row writes give up after 200 ms
 * (lock_timeout, shorter than deadlock_timeout, 1 s by default, so it is
 * the repair that yields, never the batch), release the position, and the
 * repair runs again. Batches wait while a repair runs.
 */
import { deleteRows, inlineRows, jsonKeys, upsertRows } from '../apply/table-statements.js';
import { arrayLiteral } from '../db/array-literal.js';
import { isReplicatorError } from '../errors.js';
import { type Side, sleep } from './sides.js';
import { keysArray, type TableSql } from './table-sql.js';

export interface Repair {
  /** Missing on the replica: inserted. */
  inserted: string[];
  /** Different: rewritten with the primary's row. */
  updated: string[];
  /** Extra on the replica: deleted. */
  deleted: string[];
  /** Already equal when the repair ran (the replicator got there first). */
  unchanged: string[];
}

const KEYS_PER_QUERY = 5_000;
const ATTEMPTS = 10;
// 40P01 deadlock_detected, 55P03 lock_not_available (lock_timeout)
const RETRY_STATES = new Set(['40P01', '55P03']);

export async function repairRows(
  primary: Side,
  replica: Side,
  sql: TableSql,
  keys: readonly string[],
  replicationRole: boolean,
): Promise<Repair> {
  const setLocal = `SET LOCAL lock_timeout = '10s'${replicationRole ? '; SET LOCAL session_replication_role = replica' : ''}`;
  for (let attempt = 1; ; attempt++) {
    try {
      return await replica.write(async (target) => {
        await target.query('LOCK TABLE replicator.position IN EXCLUSIVE MODE');
        await target.query("SET LOCAL lock_timeout = '200ms'");
        const repair: Repair = { inserted: [], updated: [], deleted: [], unchanged: [] };
        for (let start = 0; start < keys.length; start += KEYS_PER_QUERY) {
          const chunk = keys.slice(start, start + KEYS_PER_QUERY);
          const byKey = sql.rowsByKey(keysArray(chunk));
          const present = await target.query<{ i: number; h: string }>(byKey.text, byKey.values);
          const onReplica = new Map(present.rows.map((r) => [chunk[r.i - 1] as string, r.h]));
          const withRow = sql.rowsByKey(keysArray(chunk), true);
          const source = await primary.read(
            async (c) => (await c.query<{ i: number; h: string; row: string }>(withRow.text, withRow.values)).rows,
            { lock: [sql.table.table] },
          );
          const onPrimary = new Map(source.map((r) => [chunk[r.i - 1] as string, r]));
          const upserts: string[] = [];
          const deletes: string[] = [];
          for (const key of chunk) {
            const from = onPrimary.get(key);
            const have = onReplica.get(key);
            if (from?.h === have) repair.unchanged.push(key);
            else if (from) {
              (have === undefined ? repair.inserted : repair.updated).push(key);
              upserts.push(from.row);
            } else {
              repair.deleted.push(key);
              deletes.push(key);
            }
          }
          if (deletes.length > 0) await target.query(deleteRows(sql.table, jsonKeys(sql.table, '$1')), [keysArray(deletes)]);
          if (upserts.length > 0) {
            await target.query(upsertRows(sql.table, inlineRows(sql.table, '$1', [])), [arrayLiteral(upserts)]);
          }
        }
        return repair;
      }, setLocal);
    } catch (error) {
      if (attempt >= ATTEMPTS || !isReplicatorError(error) || !RETRY_STATES.has(error.sqlState ?? '')) throw error;
      await sleep(100 * attempt);
    }
  }
}
