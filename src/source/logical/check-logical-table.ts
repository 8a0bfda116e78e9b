/**
 * What logical mode needs of a replicated table before its changes are
 * trusted: it is the table that was added (same oid), not partitioned (a
 * partition's TRUNCATE is not published through its root), and its replica
 * identity carries the replication key in every UPDATE and DELETE (the
 * primary key by default, an index on exactly the key, or FULL). Otherwise
 * UPDATEs and DELETEs could not be located on the replica, or would fail on
 * the primary once the table is published: it is refused with the fix.
 */

import { checkReplicaIdentity } from '../../capture/check-replica-identity.js';
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
  await checkReplicaIdentity(primary, entry.table, entry.relid, entry.keyColumns);
}
