/**
 * Logical mode's capture on the primary: one publication, pg_replicator,
 * whose tables are exactly the replication set (the registry's tables not
 * removed). Adding a table to it or removing one needs the table's owner,
 * so `replicator add`, `remove` and `init` keep it in step when it exists,
 * and the running replicator checks it before streaming. Tables are named
 * through their oids' regclass text, never spliced from user input.
 * It publishes via the partition root (publish_via_partition_root): a row
 * written to any partition, at any level, arrives as its root's, the
 * replicated table (what a partition's TRUNCATE needs instead is in
 * db/migrations/004).
 */
import type { Queryable } from '../db/database.js';
import { displayName, type QualifiedName, quoteQualified } from '../db/quote.js';
import { ReplicatorError } from '../errors.js';

export const PUBLICATION = 'pg_replicator';

export async function publicationExists(primary: Queryable): Promise<boolean> {
  return (await viaRoot(primary)) !== null;
}

/** Null: no publication; else whether it publishes partitions as their root. */
async function viaRoot(primary: Queryable): Promise<boolean | null> {
  const { rows } = await primary.query<{ via_root: boolean }>(
    'SELECT p.pubviaroot AS via_root FROM pg_catalog.pg_publication p WHERE p.pubname = $1',
    [PUBLICATION],
  );
  return rows[0]?.via_root ?? null;
}

async function members(primary: Queryable): Promise<QualifiedName[]> {
  const { rows } = await primary.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name
     FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_rel r ON r.prpubid = p.oid
     JOIN pg_catalog.pg_class c ON c.oid = r.prrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE p.pubname = $1`,
    [PUBLICATION],
  );
  return rows;
}

const key = (t: QualifiedName) => `${t.schema}\u0000${t.name}`;

/**
 * Makes the publication hold exactly `tables` (creating it when `create`).
 * Returns whether anything changed. Fails with a clear error where this
 * role may not (it needs to own the tables, and CREATE on the database).
 */
export async function syncPublication(
  primary: Queryable,
  tables: readonly QualifiedName[],
  options: { create: boolean },
): Promise<boolean> {
  const via = await viaRoot(primary);
  const exists = via !== null;
  if (!exists && !options.create) return false;
  const fix = `run \`replicator init primary\` with CAPTURE_MODE=logical as the tables' owner (it creates publication ${PUBLICATION} and puts the replication set in it)`;
  try {
    if (!exists) {
      await primary.query(
        `CREATE PUBLICATION ${PUBLICATION} WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true)`,
      );
    } else if (!via) {
      await primary.query(`ALTER PUBLICATION ${PUBLICATION} SET (publish_via_partition_root = true)`);
    }
    const have = new Map((await members(primary)).map((t) => [key(t), t]));
    const want = new Map(tables.map((t) => [key(t), t]));
    let changed = !exists || !via;
    for (const [k, t] of want) {
      if (have.has(k)) continue;
      await primary.query(`ALTER PUBLICATION ${PUBLICATION} ADD TABLE ONLY ${quoteQualified(t)}`);
      changed = true;
    }
    for (const [k, t] of have) {
      if (want.has(k)) continue;
      await primary.query(`ALTER PUBLICATION ${PUBLICATION} DROP TABLE ONLY ${quoteQualified(t)}`);
      changed = true;
    }
    return changed;
  } catch (error) {
    if ((error as { code?: string }).code === '42501') {
      throw new ReplicatorError(
        'CAPTURE_BROKEN',
        `primary: publication ${PUBLICATION} is missing or does not hold the replication set (${tables.map(displayName).join(', ') || 'no tables'}), and this login may not change it; ${fix}`,
        { cause: error, sqlState: '42501' },
      );
    }
    throw error;
  }
}

/** Whether the publication holds exactly `tables`, via their roots (the replicator's own check before streaming). */
export async function publicationMatches(primary: Queryable, tables: readonly QualifiedName[]): Promise<boolean> {
  if ((await viaRoot(primary)) !== true) return false;
  const have = new Set((await members(primary)).map(key));
  return have.size === tables.length && tables.every((t) => have.has(key(t)));
}

export async function dropPublication(primary: Queryable): Promise<boolean> {
  if (!(await publicationExists(primary))) return false;
  await primary.query(`DROP PUBLICATION ${PUBLICATION}`);
  return true;
}
