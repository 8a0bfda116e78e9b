/**
 * What logical mode needs of a replicated table before its changes are
 * trusted: it is the table that was added (same oid), not partitioned (a
 * partition's TRUNCATE is not published through its root), and its replica
 * identity carries the replication key in every UPDATE and DELETE (the
 * primary key by default, an index on exactly the key, or FULL). Otherwise
 * UPDATEs and DELETEs could not be located on the replica, or would fail on
 * the primary once the table is published: it is refused with the fix.
 */

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
  if (description.partitioned) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: ${name} is partitioned, which logical mode does not replicate yet (a TRUNCATE of one partition is not published through the root); use CAPTURE_MODE=trigger for it`,
    );
  }
  const { rows } = await primary.query<{ identity: string; columns: string[] | null }>(
    `SELECT c.relreplident::text AS identity,
            (SELECT pg_catalog.array_agg(a.attname::text ORDER BY k.i)
             FROM pg_catalog.pg_index x, pg_catalog.unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, i)
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
             WHERE x.indrelid = c.oid AND (CASE c.relreplident WHEN 'i' THEN x.indisreplident ELSE x.indisprimary END)) AS columns
     FROM pg_catalog.pg_class c WHERE c.oid = $1::oid`,
    [entry.relid],
  );
  const row = rows[0];
  if (!row || row.identity === 'f') return;
  const same =
    (row.identity === 'd' || row.identity === 'i') &&
    row.columns !== null &&
    [...row.columns].sort().join(',') === [...entry.keyColumns].sort().join(',');
  if (!same) {
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: the replica identity of ${name} (${row.identity === 'n' ? 'NOTHING' : `${row.identity === 'i' ? 'index' : 'primary key'} on ${row.columns?.join(', ') ?? 'nothing'}`}) is not its replication key (${entry.keyColumns.join(', ')}), so logical decoding cannot say which row an UPDATE or DELETE touched; run ALTER TABLE ${name} REPLICA IDENTITY USING INDEX <a unique index on exactly the key> (or REPLICA IDENTITY FULL)`,
    );
  }
}
