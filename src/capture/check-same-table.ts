/**
 * The check every capture mode makes first: the table in the replication set
 * still exists and is the one that was added (same oid), not one dropped and
 * created again under its name, whose writes before now no capture saw. Either
 * way replication pauses with the table named and the fix.
 */
import { displayName } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';
import type { RegistryEntry } from '../tables/registry.js';
import type { TableDescription } from '../tables/table-model.js';

/**
 * `resync` is the mode's fix (a sentence fragment after "; "); `lost` says
 * what went missing with the old table, for the message. Narrows description.
 */
export function checkSameTable(
  entry: RegistryEntry,
  description: TableDescription | null,
  resync: string,
  lost: string,
): asserts description is TableDescription {
  const name = displayName(entry.table);
  if (!description) {
    throw new ReplicatorError(
      'SCHEMA_MISSING',
      `primary: table ${name} is in the replication set but does not exist; create it again and ${resync}, or remove it: \`replicator remove ${name}\``,
    );
  }
  if (description.relid !== entry.relid) {
    throw new ReplicatorError(
      'CAPTURE_BROKEN',
      `primary: table ${name} was dropped and created again since it was added${lost}; ${resync}`,
    );
  }
}
