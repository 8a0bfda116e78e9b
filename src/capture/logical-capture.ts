/**
 * Which capture the primary runs, switched by the tables' owner with
 * `replicator init primary` (and kept by add, remove and resync): in logical
 * mode publication pg_replicator holds the replication set and the capture
 * triggers are DISABLEd, so writers pay nothing for the capture (but for a
 * partitioned table's TRUNCATE triggers, see setCaptureTriggers); in trigger
 * mode the publication is gone and the triggers are ENABLE ALWAYS again.
 * Either switch is safe at any time: the replicator of the other mode stops
 * with a clear error (a disabled trigger is a broken capture; a missing
 * publication cannot be streamed), and a replica position of the other mode
 * copies every table afresh.
 */
import type { Queryable } from '../db/database.js';
import { displayName, quoteIdent, quoteQualified } from '../db/quote.js';
import { type RegistryEntry, readRegistry } from '../tables/registry.js';
import { checkReplicaIdentity } from './check-replica-identity.js';
import { dropPublication, publicationExists, syncPublication } from './publication.js';

const SUFFIXES = ['', '_update', '_delete', '_truncate'];

/**
 * ENABLE ALWAYS (trigger mode) or DISABLE (logical mode) the capture triggers
 * that see rows: all four of a plain table; a partitioned table's row trigger
 * (on the root; PostgreSQL 14+ carries the change to its clones on every
 * partition, and a partition created later clones the root's state). A
 * partitioned table's TRUNCATE triggers stay on in both modes: in logical mode
 * they are how a TRUNCATE naming a partition reaches the stream.
 */
export async function setCaptureTriggers(
  primary: Queryable,
  entries: readonly RegistryEntry[],
  enabled: boolean,
): Promise<string[]> {
  const changed: string[] = [];
  for (const entry of entries) {
    const { rows } = await primary.query<{ tgname: string }>(
      `SELECT DISTINCT g.tgname
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_trigger g
         ON g.tgrelid = c.oid
         OR (c.relkind = 'p' AND g.tgrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(c.oid) AS p))
       WHERE c.oid = $1::oid AND c.relkind IN ('r', 'p')
         AND g.tgname = ANY (CASE c.relkind WHEN 'p' THEN ARRAY[$2::text] ELSE $3::text[] END)
         AND (g.tgenabled = 'A') IS DISTINCT FROM $4`,
      [entry.relid, entry.triggerName, SUFFIXES.map((s) => entry.triggerName + s), enabled],
    );
    for (const { tgname } of rows) {
      await primary.query(
        `ALTER TABLE ${quoteQualified(entry.table)} ${enabled ? 'ENABLE ALWAYS' : 'DISABLE'} TRIGGER ${quoteIdent(tgname)}`,
      );
    }
    if (rows.length > 0) changed.push(displayName(entry.table));
  }
  return changed;
}

/** `init primary` in logical (or auto) mode: the publication holds the set, the triggers are off. */
export async function useLogicalCapture(primary: Queryable): Promise<void> {
  const entries = await readRegistry(primary);
  // Before anything is published: a table whose identity lacks its key would fail the application's UPDATEs.
  for (const entry of entries) await checkReplicaIdentity(primary, entry.table, entry.relid, entry.keyColumns);
  await syncPublication(
    primary,
    entries.map((e) => e.table),
    { create: true },
  );
  await setCaptureTriggers(primary, entries, false);
}

/** `init primary` in trigger mode after logical mode: no publication, the triggers on. Nothing when logical mode was never used. */
export async function useTriggerCapture(primary: Queryable): Promise<boolean> {
  if (!(await dropPublication(primary))) return false;
  await setCaptureTriggers(primary, await readRegistry(primary), true);
  return true;
}

/**
 * After add, remove or resync (run by the owner): where logical mode is in
 * use (the publication exists) it follows the set, and the capture triggers
 * add or resync installed are turned off again; removing the last table
 * drops it (the running replicator then drops its slot).
 */
export async function followPublication(primary: Queryable): Promise<void> {
  if (!(await publicationExists(primary))) return;
  const entries = await readRegistry(primary);
  if (entries.length === 0) {
    await dropPublication(primary);
    return;
  }
  await syncPublication(
    primary,
    entries.map((e) => e.table),
    { create: false },
  );
  await setCaptureTriggers(primary, entries, false);
}
