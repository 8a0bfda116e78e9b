/**
 * The settings every session the replicator opens runs with, written once.
 *
 * - search_path = pg_catalog, pg_temp: no function, operator or table that
 *   another role can create (in public, or in a temporary schema) is ever
 *   resolved in place of a built-in. Generated SQL qualifies what it names
 *   anyway; this is the second lock.
 * - DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output,
 *   lc_monetary: the settings that change the text of a value. Rows travel as
 *   PostgreSQL text; both ends print and parse it the same way whatever the
 *   servers' defaults, so every value arrives byte for byte.
 */
export const PINNED_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ['search_path', 'pg_catalog, pg_temp'],
  ['datestyle', 'ISO, MDY'],
  ['intervalstyle', 'postgres'],
  ['timezone', 'UTC'],
  ['extra_float_digits', '3'],
  ['bytea_output', 'hex'],
  ['lc_monetary', 'C'],
];

const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** For a whole session (a direct connection, not a transaction-mode pooler). */
export const SET_SESSION = PINNED_SETTINGS.map(([name, value]) =>
  // search_path is a list: quoted as one string it would name one schema "pg_catalog, pg_temp".
  name === 'search_path' ? `SET ${name} = ${value}` : `SET ${name} = ${literal(value)}`,
).join('; ');

/**
 * For the current transaction only: safe behind a transaction-mode pooler.
 * SET LOCAL statements, not set_config() calls: a SELECT would take a
 * REPEATABLE READ transaction's snapshot before it could lock its tables
 * (lock-before-snapshot.ts).
 */
export const SET_LOCAL = PINNED_SETTINGS.map(([name, value]) =>
  name === 'search_path' ? `SET LOCAL ${name} = ${value}` : `SET LOCAL ${name} = ${literal(value)}`,
).join('; ');

/** The replica's apply also keeps the replica's own triggers and foreign keys from firing, where the role may. */
export const REPLICATION_ROLE = 'session_replication_role';
