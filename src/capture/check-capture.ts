/**
 * Before a table's changes are trusted, its capture must still be what was
 * installed: the same table (not one dropped and created again under its
 * name), the capture triggers present and ENABLE ALWAYS, the key unchanged,
 * every partition with its TRUNCATE trigger. Anything else means writes may
 * have gone uncaptured: replication pauses with the table named and the fix
 * (`replicator resync`, which reinstalls the capture and copies the table).
 */
import type { Database } from '../db/database.js';
import { displayName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { RegistryEntry } from '../tables/registry.js';
import type { TableDescription } from '../tables/table-model.js';
import { capturePartitions } from './capture-partitions.js';
import { checkReplicationKey } from './check-replication-key.js';
import { checkSameTable } from './check-same-table.js';

export async function checkCapture(primary: Database, entry: RegistryEntry, description: TableDescription | null): Promise<void> {
  const name = displayName(entry.table);
  const resync = `run \`replicator resync ${name}\` as the table's owner (it reinstalls the capture and copies the table)`;
  checkSameTable(entry, description, resync, ', and its capture went with it, so changes since then were not captured');
  const { rows } = await primary.query<{ intact: boolean }>(
    'SELECT replicator.capture_intact(t) AS intact FROM replicator.tables t WHERE t.table_schema = $1 AND t.table_name = $2',
    [entry.table.schema, entry.table.name],
  );
  if (rows[0]?.intact !== true) {
    throw new ReplicatorError(
      'CAPTURE_BROKEN',
      `primary: the capture triggers of ${name} (${entry.triggerName}…) are missing, disabled or not ENABLE ALWAYS, so changes made meanwhile may not have been captured; ${resync}`,
    );
  }
  await checkReplicationKey(primary, entry, description, resync);
  if (description.partitioned) await capturePartitions(primary, entry, resync);
}
