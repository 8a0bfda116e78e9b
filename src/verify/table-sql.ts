/**
 * The SQL verify runs against one replicated table, the same text on both
 * servers. Identifiers are quoted here; values (range bounds, keys, snapshots)
 * are always query parameters. A key travels as a JSON object of its columns,
 * printed by the server under pinned settings and read back with the table's
 * own row type (json_populate_record), so a bound or a key means exactly the
 * same value on both sides, whatever its type.
 *
 * The database does the hashing: a row's text is ROW(replicated columns)::text
 * (generated columns left out, as in replication; extra replica columns are not
 * looked at), and a range's hash is the sum of the first 64 bits of each row's
 * md5, with the row count beside it. The sum does not depend on row order, so
 * neither server has to sort a range to hash it.
 */
import { quoteIdent, quoteQualified } from '../db/quote.js';
import type { ReplicatedTable } from '../replication/replicated-table.js';

/** Keys (lo, hi] as key JSON objects; null: unbounded on that side. */
export interface KeyRange {
  lo: string | null;
  hi: string | null;
}

export const WHOLE_TABLE: KeyRange = { lo: null, hi: null };

export interface Query {
  text: string;
  values: unknown[];
}

/** Collects parameters and hands out their placeholders, so SQL with optional parts stays numbered right. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/**
 * Settings that change how values print, pinned for the transaction on both
 * servers (as the capture trigger and the apply pin them), so equal values
 * give equal text and equal hashes.
 */
export const PIN_SETTINGS = `SELECT set_config('datestyle', 'ISO, MDY', true), set_config('intervalstyle', 'postgres', true),
  set_config('timezone', 'UTC', true), set_config('extra_float_digits', '3', true), set_config('bytea_output', 'hex', true),
  set_config('lc_monetary', 'C', true)`;

export class TableSql {
  readonly target: string;
  private readonly keys: string[];

  /**
   * @param collateC key columns compared with COLLATE "C" on both servers (their
   * collations differ between the servers, so the native order could differ).
   */
  constructor(
    readonly table: ReplicatedTable,
    readonly collateC: ReadonlySet<string> = new Set(),
  ) {
    this.target = quoteQualified(table.table);
    this.keys = table.keyColumns;
  }

  private keyColumn(alias: string, key: string): string {
    return `${alias}.${quoteIdent(key)}${this.collateC.has(key) ? ' COLLATE "C"' : ''}`;
  }

  private keyTuple(alias: string): string {
    return `(${this.keys.map((k) => this.keyColumn(alias, k)).join(', ')})`;
  }

  /** The key columns of a key JSON parameter, as a row the planner evaluates once (so the key's index serves the range). */
  private bound(param: string): string {
    return `(SELECT ${this.keys.map((k) => this.keyColumn('b', k)).join(', ')} FROM json_populate_record(NULL::${this.target}, ${param}::json) AS b)`;
  }

  private rangeWhere(range: KeyRange, params: Params, alias = 't'): string {
    const parts: string[] = [];
    if (range.lo !== null) parts.push(`${this.keyTuple(alias)} > ${this.bound(params.add(range.lo))}`);
    if (range.hi !== null) parts.push(`${this.keyTuple(alias)} <= ${this.bound(params.add(range.hi))}`);
    return parts.length === 0 ? 'true' : parts.join(' AND ');
  }

  /** The key as a JSON object text; equal keys print equal text (same types, pinned settings). */
  private keyJson(alias: string, params: Params): string {
    const names = params.add(this.keys);
    return `json_build_object(${this.keys.map((k, i) => `(${names}::text[])[${i + 1}], ${alias}.${quoteIdent(k)}`).join(', ')})::text`;
  }

  private rowHash(alias: string): string {
    return `md5(ROW(${this.table.columns.map((c) => `${alias}.${quoteIdent(c)}`).join(', ')})::text)`;
  }

  /** Row count and order-independent hash of a range. */
  rangeHash(range: KeyRange): Query {
    const params = new Params();
    const where = this.rangeWhere(range, params);
    return {
      text: `SELECT count(*)::text AS n, coalesce(sum(('x' || left(${this.rowHash('t')}, 16))::bit(64)::bigint), 0)::text AS h
             FROM ${this.target} AS t WHERE ${where}`,
      values: params.values,
    };
  }

  /** Every step-th key of a range, in key order: the boundaries that cut it into parts of `step` rows. */
  boundaries(range: KeyRange, step: number): Query {
    const params = new Params();
    const where = this.rangeWhere(range, params);
    const stepParam = params.add(step);
    const columns = this.keys.map((k) => `t.${quoteIdent(k)}`).join(', ');
    const order = this.keys.map((k) => this.keyColumn('t', k)).join(', ');
    return {
      text: `SELECT ${this.keyJson('s', params)} AS key
             FROM (SELECT ${columns}, row_number() OVER (ORDER BY ${order}) AS rn FROM ${this.target} AS t WHERE ${where}) AS s
             WHERE s.rn % ${stepParam}::bigint = 0 ORDER BY s.rn`,
      values: params.values,
    };
  }

  /**
   * The next `count` slice boundaries after `lo` (null: the table's start):
   * every step-th key in key order among the step × count keys that follow
   * it. Reads only those keys (in key order, which the key's index serves
   * unless a key column is compared with COLLATE "C"), so walking a table
   * slice by slice costs a pass over it, not a pass per slice.
   */
  nextBounds(lo: string | null, step: number, count: number): Query {
    const params = new Params();
    const where = this.rangeWhere({ lo, hi: null }, params);
    const limit = params.add(step * count);
    const stepParam = params.add(step);
    const columns = this.keys.map((k) => `t.${quoteIdent(k)}`).join(', ');
    const order = this.keys.map((k) => this.keyColumn('t', k)).join(', ');
    return {
      text: `SELECT ${this.keyJson('s', params)} AS key
             FROM (SELECT ${columns}, row_number() OVER (ORDER BY ${order}) AS rn
                   FROM (SELECT ${columns} FROM ${this.target} AS t WHERE ${where} ORDER BY ${order} LIMIT ${limit}::bigint) AS t) AS s
             WHERE s.rn % ${stepParam}::bigint = 0 ORDER BY s.rn`,
      values: params.values,
    };
  }

  /** Key and row hash of every row of a range (a leaf: small enough to compare row by row). */
  rowsInRange(range: KeyRange): Query {
    const params = new Params();
    const where = this.rangeWhere(range, params);
    return {
      text: `SELECT ${this.keyJson('t', params)} AS key, ${this.rowHash('t')} AS h FROM ${this.target} AS t WHERE ${where}`,
      values: params.values,
    };
  }

  /**
   * The rows of given keys (a JSON array of key objects): position in the
   * array, row hash, the row version (xmin: a new one for every write), and
   * with `withRow` the row itself as JSON (to repair from). Keys without a row
   * are simply not returned.
   */
  rowsByKey(keysJsonArray: string, withRow = false): Query {
    const params = new Params();
    const keysParam = params.add(keysJsonArray);
    const join = this.keys.map((k) => `t.${quoteIdent(k)} = k.${quoteIdent(k)}`).join(' AND ');
    return {
      text: `SELECT e.i::int AS i, ${this.rowHash('t')} AS h, t.xmin::text AS v${withRow ? ', to_json(t)::text AS row' : ''}
             FROM json_array_elements(${keysParam}::json) WITH ORDINALITY AS e(j, i)
             CROSS JOIN LATERAL json_populate_record(NULL::${this.target}, e.j) AS k
             JOIN ${this.target} AS t ON ${join}`,
      values: params.values,
    };
  }

  /**
   * Whether the replica is still behind primary snapshot `$1` for this table:
   * some change of this table's log is visible in it but neither in the
   * replica's position `$2` nor acknowledged. A change is acknowledged
   * (processed), or pruned from the log, only after the replica committed a
   * position that holds it, so "not behind" means every change of this table
   * visible in $1 is on the replica (now, or by the time a later read of the
   * replica starts). Such a change's transaction id lies between $2's xmin and
   * $1's xmax: a range the log's txid index (or the scan) keeps small.
   */
  behind(primarySnapshot: string, replicaSnapshot: string | null): Query {
    return {
      text: `SELECT EXISTS (SELECT FROM ${quoteQualified(this.table.log)}
               WHERE txid >= coalesce(pg_snapshot_xmin($2::pg_snapshot), '0'::xid8) AND txid < pg_snapshot_xmax($1::pg_snapshot)
                 AND NOT processed AND pg_visible_in_snapshot(txid, $1::pg_snapshot)
                 AND ($2::pg_snapshot IS NULL OR NOT pg_visible_in_snapshot(txid, $2::pg_snapshot))) AS behind`,
      values: [primarySnapshot, replicaSnapshot],
    };
  }
}

/** A JSON array of key objects, built from their text (never parsed: bigint keys stay exact). */
export function keysArray(keys: readonly string[]): string {
  return `[${keys.join(',')}]`;
}
