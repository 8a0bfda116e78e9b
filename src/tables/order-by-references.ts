/**
 * The replicated tables in the order the apply writes them: a table another
 * replicated table references (a foreign key on the replica) before the
 * table that references it. Where the replica's foreign keys fire during
 * apply (the login may not set session_replication_role, as on PostgreSQL 14
 * without superuser), rows then arrive parents first and leave children
 * first. Tables in a cycle of references, or unrelated, keep the registry's
 * order; a table's references to itself do not count.
 */
import type { Queryable } from '../db/database.js';
import { quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from './table-model.js';

const REFERENCES = `
  SELECT c.conrelid::int8::text AS child, c.confrelid::int8::text AS parent
  FROM pg_catalog.pg_constraint AS c
  WHERE c.contype = 'f' AND c.conparentid = 0 AND c.conrelid <> c.confrelid
    AND c.conrelid = ANY ($1::oid[]) AND c.confrelid = ANY ($1::oid[])`;

export async function orderByReferences(replica: Queryable, tables: readonly ReplicatedTable[]): Promise<ReplicatedTable[]> {
  if (tables.length < 2) return [...tables];
  const { rows: oids } = await replica.query<{ oid: string | null }>(
    'SELECT pg_catalog.to_regclass(n)::oid::int8::text AS oid FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i',
    [tables.map((t) => quoteQualified(t.table))],
  );
  const byOid = new Map<string, ReplicatedTable>();
  oids.forEach((r, i) => {
    if (r.oid) byOid.set(r.oid, tables[i] as ReplicatedTable);
  });
  const { rows: edges } = await replica.query<{ child: string; parent: string }>(REFERENCES, [[...byOid.keys()]]);
  const parents = new Map<ReplicatedTable, Set<ReplicatedTable>>(tables.map((t) => [t, new Set()]));
  for (const { child, parent } of edges) {
    const c = byOid.get(child);
    const p = byOid.get(parent);
    if (c && p) parents.get(c)?.add(p);
  }
  // Repeatedly take, in registry order, the first table whose parents are all placed.
  const placed: ReplicatedTable[] = [];
  const left = [...tables];
  while (left.length > 0) {
    const next = left.findIndex((t) => [...(parents.get(t) ?? [])].every((p) => placed.includes(p)));
    // A cycle: the rest keep their order (their foreign keys must be off during apply anyway).
    const [table] = left.splice(next === -1 ? 0 : next, 1);
    placed.push(table as ReplicatedTable);
  }
  return placed;
}
