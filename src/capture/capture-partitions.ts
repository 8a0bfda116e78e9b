/**
 * Every partition of a captured partitioned table, at every level, has its
 * TRUNCATE trigger before the table's changes are trusted, in either capture
 * mode: statement triggers are not cloned onto partitions created or attached
 * later, so the replicator adds the missing ones here
 * (replicator.capture_partitions, which it may run though it owns nothing).
 * Without it a TRUNCATE naming such a partition would go unseen.
 */
import type { Queryable } from '../db/database.js';
import { displayName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { RegistryEntry } from '../tables/registry.js';

export async function capturePartitions(primary: Queryable, entry: RegistryEntry, fix: string): Promise<void> {
  await primary.query('SELECT replicator.capture_partitions($1, $2)', [entry.table.schema, entry.table.name]).catch((error) => {
    throw new ReplicatorError(
      'CAPTURE_BROKEN',
      `primary: a partition of ${displayName(entry.table)} has no TRUNCATE capture and the replicator could not add it (${(error as Error).message}); ${fix}`,
      { cause: error },
    );
  });
}
