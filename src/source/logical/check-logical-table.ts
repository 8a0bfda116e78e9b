/**
 * What logical mode needs of a replicated table before its changes are
 * trusted: it is the table that was added (same oid); its key still
 * identifies its rows (capture/check-replication-key.ts); the replica identity
 * of every table that holds its rows (the table itself, or each leaf
 * partition) carries the replication key (capture/check-replica-identity.ts);
 * and a partitioned table's partitions, present and later, have their
 * TRUNCATE triggers (the only way a TRUNCATE naming a partition reaches the
 * stream). Otherwise it is refused with the fix.
 */

import { capturePartitions } from '../../capture/capture-partitions.js';
import { checkReplicaIdentity } from '../../capture/check-replica-identity.js';
import { checkReplicationKey } from '../../capture/check-replication-key.js';
import { checkSameTable } from '../../capture/check-same-table.js';
import type { Queryable } from '../../db/database.js';
import { displayName } from '../../db/quote.js';
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
  await checkReplicationKey(primary, entry, description, resync);
  if (description.partitioned) await capturePartitions(primary, entry, `${resync} as the table's owner`);
  await checkReplicaIdentity(primary, entry.table, entry.relid, entry.keyColumns, true);
}
