/**
 * What logical mode needs of a replicated table before its changes are
 * trusted: it is the table that was added (same oid); the replica identity
 * of every table that holds its rows (the table itself, or each leaf
 * partition: the identity is a partition's own) carries the replication key
 * in every UPDATE and DELETE (the primary key by default, an index on exactly
 * the key, or FULL); and a partitioned table's partitions, present and later,
 * have their TRUNCATE triggers (the only way a TRUNCATE naming a partition
 * reaches the stream). Otherwise UPDATEs and DELETEs could not be located on
 * the replica, or would fail on the primary once the table is published: it
 * is refused with the fix.
 */

import { capturePartitions } from '../../capture/capture-partitions.js';
import { checkSameTable } from '../../capture/check-same-table.js';
import type { Queryable } from '../../db/database.js';
import { displayName } from '../../db/quote.js';
import { ReplicatorError } from '../../errors.js';
import type { RegistryEntry } from '../../tables/registry.js';
import type { TableDescription } from '../../tables/table-model.js';

export async function checkLogicalTable(
  primary: Queryable,
  entry: RegistryEntry,
  description: TableDescription | null,
): Promise<void> {
  const name = displayName(entry.table);
  const resync = `run \`replicator resync ${name}\``;
  checkSameTable(entry, description, `${resync} as the table's owner`, '');
  if (description.partitioned) await capturePartitions(primary, entry, `${resync} as the table's owner`);
  const { rows } = await primary.query<{ relid: string; relation: string; identity: string; columns: string[] | null }>(
    `SELECT c.oid::int8::text AS relid, c.oid::regclass::text AS relation, c.relreplident::text AS identity,
            (SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.i)
             FROM pg_catalog.pg_index x, pg_catalog.unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
             WHERE x.indrelid = c.oid AND (CASE c.relreplident WHEN 'i' THEN x.indisreplident ELSE x.indisprimary END)) AS columns
     FROM pg_catalog.pg_class c
     WHERE c.relkind = 'r'
       AND (c.oid = $1::oid OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree($1::oid::regclass) AS p))
     ORDER BY c.oid`,
    [entry.relid],
  );
  const key = [...entry.keyColumns].sort().join(',');
  for (const row of rows) {
    if (row.identity === 'f') continue;
    const same =
      (row.identity === 'd' || row.identity === 'i') && row.columns !== null && [...row.columns].sort().join(',') === key;
    if (same) continue;
    const which = Number(row.relid) === entry.relid ? name : `${row.relation} (a partition of ${name})`;
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: the replica identity of ${which} (${row.identity === 'n' ? 'NOTHING' : `${row.identity === 'i' ? 'index' : 'primary key'} on ${row.columns?.join(', ') ?? 'nothing'}`}) is not the replication key (${entry.keyColumns.join(', ')}), so logical decoding cannot say which row an UPDATE or DELETE touched; run ALTER TABLE ${row.relation} REPLICA IDENTITY USING INDEX <a unique index on exactly the key> (or REPLICA IDENTITY FULL)`,
    );
  }
}
