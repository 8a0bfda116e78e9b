/**
 * The writes every workload makes, and the cheap replica queries that tell
 * when they have all arrived. Ids are chosen by the benchmark (1..N), so each
 * check is an index lookup of a few known keys instead of a count(*) that
 * would cost the replica more the bigger the table.
 */
import type pg from 'pg';

export const userId = (index: number): number => index + 1;

/** One statement, one transaction: rows first..last, generated server-side so the client costs nothing. */
export const insertRange = (first: number, last: number) => ({
  text: `INSERT INTO users (user_id, name, email)
         SELECT g, 'User ' || g, 'user' || g || '@example.com' FROM generate_series($1::bigint, $2::bigint) g`,
  values: [first, last],
});

export const insertOne = (index: number) => ({
  text: 'INSERT INTO users (user_id, name, email) VALUES ($1, $2, $3)',
  values: [userId(index), `User ${userId(index)}`, `user${userId(index)}@example.com`],
});

export const updatedName = (index: number): string => `Updated ${userId(index)}`;

export const updateOne = (index: number) => ({
  text: 'UPDATE users SET name = $2 WHERE user_id = $1',
  values: [userId(index), updatedName(index)],
});

export const deleteOne = (index: number) => ({
  text: 'DELETE FROM users WHERE user_id = $1',
  values: [userId(index)],
});

/** All of these ids are on the replica. */
export async function haveIds(replica: pg.ClientBase, ids: readonly number[]): Promise<boolean> {
  const { rows } = await replica.query<{ n: number }>('SELECT count(*)::int AS n FROM users WHERE user_id = ANY($1::bigint[])', [
    ids,
  ]);
  return rows[0]?.n === ids.length;
}

/** None of these ids is on the replica. */
export async function lackIds(replica: pg.ClientBase, ids: readonly number[]): Promise<boolean> {
  const { rows } = await replica.query('SELECT FROM users WHERE user_id = ANY($1::bigint[]) LIMIT 1', [ids]);
  return rows.length === 0;
}

/** These rows carry their updated names on the replica. */
export async function haveUpdates(replica: pg.ClientBase, indexes: readonly number[]): Promise<boolean> {
  const { rows } = await replica.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM unnest($1::bigint[], $2::text[]) AS x(id, name)
     JOIN users u ON u.user_id = x.id AND u.name = x.name`,
    [indexes.map(userId), indexes.map(updatedName)],
  );
  return rows[0]?.n === indexes.length;
}

export async function countRows(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
  return rows[0]?.n ?? 0;
}
