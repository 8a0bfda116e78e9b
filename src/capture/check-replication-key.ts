/**
 * The check both capture modes make of a table's key before its changes are
 * trusted: the key it replicates by still identifies its rows on the
 * primary. Its primary key is the one it was added with, or the key declared
 * with --key still holds (unique, not null). Otherwise two primary rows could
 * land on one replica row: replication pauses with the table named and the fix.
 */
import type { Queryable } from '../db/database.js';
import { displayName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { RegistryEntry } from '../tables/registry.js';
import type { TableDescription } from '../tables/table-model.js';

/** `resync` is the mode's fix (a sentence fragment after "; "). */
export async function checkReplicationKey(
  primary: Queryable,
  entry: RegistryEntry,
  description: TableDescription,
  resync: string,
): Promise<void> {
  const name = displayName(entry.table);
  if (!entry.declaredKey) {
    if (description.primaryKey.join(',') === entry.keyColumns.join(',')) return;
    throw new ReplicatorError(
      'CAPTURE_BROKEN',
      `primary: the primary key of ${name} changed from (${entry.keyColumns.join(', ')}) to (${description.primaryKey.join(', ') || 'none'}); give the replica's table the same key, then ${resync}`,
    );
  }
  await primary
    .query('SELECT replicator.check_declared_key($1::oid::regclass, $2::text[])', [entry.relid, entry.keyColumns])
    .catch((error: { sqlState?: string; message: string }) => {
      if (error.sqlState !== 'P0001') throw error;
      throw new ReplicatorError(
        'SCHEMA_MISMATCH',
        `${error.message.replace(/^primary database [^:]*: /, 'primary: ')}; the key declared for ${name} no longer holds: fix it, or ${resync} with another --key`,
      );
    });
}
