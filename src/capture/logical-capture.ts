/**
 * Which capture the primary runs, switched by the tables' owner with
 * `replicator init primary` (and kept by add, remove and resync): in logical
 * mode publication pg_replicator holds the replication set and the capture
 * triggers are DISABLEd, so writers pay nothing for the capture; in trigger
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

async function plainTables(primary: Queryable, entries: readonly RegistryEntry[]): Promise<RegistryEntry[]> {
  const { rows } = await primary.query<{ relid: string }>(
    "SELECT c.oid::int8::text AS relid FROM pg_catalog.pg_class c WHERE c.oid = ANY ($1::oid[]) AND c.relkind = 'r'",
    [entries.map((e) => e.relid)],
  );
  const plain = new Set(rows.map((r) => Number(r.relid)));
  return entries.filter((e) => plain.has(e.relid));
}

/** ENABLE ALWAYS (trigger mode) or DISABLE (logical mode) the capture triggers of plain tables; partitioned ones keep theirs. */
export async function setCaptureTriggers(
  primary: Queryable,
  entries: readonly RegistryEntry[],
  enabled: boolean,
): Promise<string[]> {
  const changed: string[] = [];
  for (const entry of await plainTables(primary, entries)) {
    const { rows } = await primary.query<{ tgname: string }>(
      `SELECT g.tgname FROM pg_catalog.pg_trigger g WHERE g.tgrelid = $1::oid AND g.tgname = ANY ($2::text[])
         AND (g.tgenabled = 'A') IS DISTINCT FROM $3`,
      [entry.relid, SUFFIXES.map((s) => entry.triggerName + s), enabled],
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
