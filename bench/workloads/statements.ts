/**
 * The writes every bench.items workload makes, and the cheap replica queries
 * that tell when they have all arrived. Ids are chosen by the benchmark
 * (1..N), so each check is an index lookup of a few known keys instead of a
 * count(*) that would cost the replica more the bigger the table.
 */
import type pg from 'pg';
import { createItems, ITEMS, ITEMS_TABLE, type ItemsOptions } from '../schema.js';
import type { RunSetup } from '../workload.js';

export const itemId = (index: number): number => index + 1;

/** The run setup of every bench.items workload. */
export const itemsSetup = (options: ItemsOptions = {}, spawn?: RunSetup['spawn']): RunSetup => ({
  tables: [ITEMS_TABLE],
  create: (db) => createItems(db.primary, db.replica, options),
  spawn,
});

/** One statement, one transaction: rows first..last, generated server-side so the client costs nothing. */
export const insertRange = (first: number, last: number) => ({
  text: `INSERT INTO ${ITEMS} (id, name, email)
         SELECT g, 'Item ' || g, 'item' || g || '@example.com' FROM generate_series($1::bigint, $2::bigint) g`,
  values: [first, last],
});

export const insertOne = (index: number) => ({
  text: `INSERT INTO ${ITEMS} (id, name, email) VALUES ($1, $2, $3)`,
  values: [itemId(index), `Item ${itemId(index)}`, `item${itemId(index)}@example.com`],
});

export const updatedName = (index: number): string => `Updated ${itemId(index)}`;

export const updateOne = (index: number) => ({
  text: `UPDATE ${ITEMS} SET name = $2, updated_at = now() WHERE id = $1`,
  values: [itemId(index), updatedName(index)],
});

export const deleteOne = (index: number) => ({
  text: `DELETE FROM ${ITEMS} WHERE id = $1`,
  values: [itemId(index)],
});

/** All of these ids are on the replica. */
export async function haveIds(replica: pg.ClientBase, ids: readonly number[]): Promise<boolean> {
  const { rows } = await replica.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ITEMS} WHERE id = ANY($1::bigint[])`, [
    ids,
  ]);
  return rows[0]?.n === ids.length;
}

/** None of these ids is on the replica. */
export async function lackIds(replica: pg.ClientBase, ids: readonly number[]): Promise<boolean> {
  const { rows } = await replica.query(`SELECT FROM ${ITEMS} WHERE id = ANY($1::bigint[]) LIMIT 1`, [ids]);
  return rows.length === 0;
}

/** These rows carry their updated names on the replica. */
export async function haveUpdates(replica: pg.ClientBase, indexes: readonly number[]): Promise<boolean> {
  const { rows } = await replica.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM unnest($1::bigint[], $2::text[]) AS x(id, name)
     JOIN ${ITEMS} i ON i.id = x.id AND i.name = x.name`,
    [indexes.map(itemId), indexes.map(updatedName)],
  );
  return rows[0]?.n === indexes.length;
}

export async function countRows(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${ITEMS}`);
  return rows[0]?.n ?? 0;
}
