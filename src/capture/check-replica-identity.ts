/**
 * In logical mode a published table's replica identity must carry its
 * replication key in every UPDATE and DELETE: the primary key by default, an
 * index on exactly the key, or FULL. For a partitioned table that holds for
 * each leaf partition (the identity is a partition's own). Otherwise logical
 * decoding cannot say which row an UPDATE or DELETE touched, and a table
 * without any identity makes the application's own UPDATEs and DELETEs fail
 * once it is published. Checked by `add` and `init` before the table joins
 * the publication, and by the replicator before it trusts the table's
 * changes; the fix is the owner's, named in the error. Seen by the
 * replicator (`whileReplicating`), the identity changed after the table was
 * published, and changes made since may not say which row they touched: a
 * fresh copy of the table is requested before the error is raised, so once
 * the identity is set back the copy supersedes them.
 */
import type { Queryable } from '../db/database.js';
import { displayName, type QualifiedName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';

export async function checkReplicaIdentity(
  primary: Queryable,
  table: QualifiedName,
  relid: number,
  keyColumns: readonly string[],
  whileReplicating = false,
): Promise<void> {
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
    [relid],
  );
  const name = displayName(table);
  const key = [...keyColumns].sort().join(',');
  for (const row of rows) {
    if (row.identity === 'f') continue;
    const same =
      (row.identity === 'd' || row.identity === 'i') && row.columns !== null && [...row.columns].sort().join(',') === key;
    if (same) continue;
    const which = Number(row.relid) === relid ? name : `${row.relation} (a partition of ${name})`;
    const identity =
      row.identity === 'n'
        ? 'NOTHING'
        : `${row.identity === 'i' ? 'index' : 'primary key'} on ${row.columns?.join(', ') ?? 'nothing'}`;
    if (whileReplicating) await primary.query('SELECT replicator.request_copy($1, $2)', [table.schema, table.name]);
    throw new ReplicatorError(
      'SCHEMA_MISMATCH',
      `primary: the replica identity of ${which} (${identity}) is not its replication key (${keyColumns.join(', ')}), so logical decoding cannot say which row an UPDATE or DELETE touched (and publishing it would make the application's UPDATEs and DELETEs fail); run ALTER TABLE ${row.relation} REPLICA IDENTITY USING INDEX <a unique index on exactly the key> (or REPLICA IDENTITY FULL)${whileReplicating ? `, or set it back to what it was; ${name} is then copied afresh (a copy is requested: changes made meanwhile may not say which row they touched)` : ''}`,
    );
  }
}
