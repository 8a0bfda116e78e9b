/**
 * Which rows each TRUNCATE of a partition in a batch removed, as a condition
 * over the replicated table's columns (the partition's constraint, ancestors'
 * included, from the primary's catalog, as trigger mode clears it), or null
 * where that cannot be known: the partition was detached or dropped since,
 * it is a hash partition (its constraint names the primary's own oids), or
 * the claim is not confirmed by the change log. Anyone may write a logical
 * message, so a claim counts only if the table's change log holds its change
 * id as a TRUNCATE of that partition written by the same transaction (only
 * the capture, SECURITY DEFINER, and the owner write the logs) and the
 * partition is still in the table's tree; a null makes the caller copy the
 * table afresh, never clear rows on the message's word. Nothing of the
 * message ever becomes SQL.
 */
import type { Queryable } from '../../db/database.js';
import { quoteQualified } from '../../db/quote.js';
import type { ReplicatedTable } from '../../tables/table-model.js';
import type { PartitionTruncate, Transaction } from './transaction-assembler.js';

export async function resolvePartitionTruncates(
  primary: Queryable,
  transactions: readonly Transaction[],
): Promise<Map<PartitionTruncate, string | null>> {
  const byTable = new Map<ReplicatedTable, PartitionTruncate[]>();
  for (const tx of transactions) {
    for (const [table, changes] of tx.tables) {
      if (changes.partitions.length === 0) continue;
      byTable.set(table, [...(byTable.get(table) ?? []), ...changes.partitions]);
    }
  }
  const resolved = new Map<PartitionTruncate, string | null>();
  for (const [table, truncates] of byTable) {
    const { rows } = await primary.query<{ i: string; condition: string | null }>(
      `SELECT u.i::text AS i, pg_catalog.pg_get_partition_constraintdef(u.part) AS condition
       FROM ROWS FROM (pg_catalog.unnest($1::oid[]), pg_catalog.unnest($2::int8[]), pg_catalog.unnest($3::xid[]))
              WITH ORDINALITY AS u(part, change_id, xid, i)
       WHERE u.part IN (SELECT p.relid FROM pg_catalog.pg_partition_tree($4::oid::regclass) AS p WHERE p.relid <> $4::oid)
         AND EXISTS (SELECT FROM ${quoteQualified(table.log)} AS l
                     WHERE l.change_id = u.change_id AND l.operation = 'TRUNCATE' AND l.relid = u.part
                       AND pg_catalog.xid(l.txid) = u.xid)`,
      [truncates.map((t) => t.partition), truncates.map((t) => t.changeId), truncates.map((t) => t.xid), table.relid],
    );
    const found = new Map(rows.map((r) => [Number(r.i) - 1, r.condition]));
    truncates.forEach((t, i) => {
      const condition = found.get(i) ?? null;
      resolved.set(t, condition === null || condition.includes('satisfies_hash_partition') ? null : condition);
    });
  }
  return resolved;
}
