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
import { committedBetween } from '../source/trigger/visibility.js';
import { compareTuples, keysMatch } from '../tables/key-comparison.js';
import type { ReplicatedTable } from '../tables/table-model.js';

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

  private keyTuple(alias: string): string[] {
    return this.keys.map((k) => this.keyColumn(alias, k));
  }

  /** The key columns of a key JSON parameter, each a value the planner evaluates once (so the key's index serves the range). */
  private bound(param: string): string[] {
    return this.keys.map(
      (k) => `(SELECT ${this.keyColumn('b', k)} FROM pg_catalog.json_populate_record(NULL::${this.target}, ${param}::json) AS b)`,
    );
  }

  /** Key comparisons use the key's own operators (extension types); COLLATE "C" ones compare as text. */
  private compare(left: string[], right: string[], strict: boolean): string {
    const ops = this.keys.map((k, i) => (this.collateC.has(k) ? 'pg_catalog.>' : (this.table.primaryKeyGreater[i] as string)));
    const equals = this.keys.map((k, i) =>
      this.collateC.has(k) ? 'pg_catalog.=' : (this.table.primaryKeyOperators[i] as string),
    );
    return compareTuples(left, right, ops, equals, strict);
  }

  private rangeWhere(range: KeyRange, params: Params, alias = 't'): string {
    const parts: string[] = [];
    if (range.lo !== null) parts.push(this.compare(this.keyTuple(alias), this.bound(params.add(range.lo)), true));
    if (range.hi !== null) parts.push(this.compare(this.keyTuple(alias), this.bound(params.add(range.hi)), false));
    return parts.length === 0 ? 'true' : parts.join(' AND ');
  }

  /** The key as a JSON object text; equal keys print equal text (same types, pinned settings). */
  private keyJson(alias: string, params: Params): string {
    const names = params.add(this.keys);
    return `json_build_object(${this.keys.map((k, i) => `(${names}::text[])[${i + 1}], ${alias}.${quoteIdent(k)}`).join(', ')})::text`;
  }

  private rowHash(alias: string): string {
    return `md5(ROW(${this.table.columns.map((c) => `${alias}.${quoteIdent(c.name)}`).join(', ')})::text)`;
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
   * with `withRow` the row itself as a record of the replica's row type (to
   * repair from, as a batch would). Keys without a row are simply not returned.
   */
  rowsByKey(keysJsonArray: string, withRow = false): Query {
    const params = new Params();
    const keysParam = params.add(keysJsonArray);
    const join = keysMatch(this.keys, this.table.primaryKeyOperators, 't', 'k');
    const record = `ROW(${this.table.replicaRow.map((c) => (c === null ? 'NULL' : `t.${quoteIdent(c)}`)).join(', ')})::text`;
    return {
      text: `SELECT e.i::int AS i, ${this.rowHash('t')} AS h, t.xmin::text AS v${withRow ? `, ${record} AS row` : ''}
             FROM pg_catalog.json_array_elements(${keysParam}::json) WITH ORDINALITY AS e(j, i)
             CROSS JOIN LATERAL pg_catalog.json_populate_record(NULL::${this.target}, e.j) AS k
             JOIN ${this.target} AS t ON ${join}`,
      values: params.values,
    };
  }

  /**
   * Whether the replica is still behind primary snapshot `$1` for this table:
   * some change of this table's log committed between the replica's position
   * `$2` and `$1`. A change is pruned from the log only after the replica
   * committed a position that holds it, so "not behind" means every change of
   * this table visible in $1 is on the replica (now, or by the time a later
   * read of the replica starts). A replica without a position is behind.
   */
  behind(primarySnapshot: string, replicaSnapshot: string | null): Query {
    return {
      text: `SELECT $2::pg_snapshot IS NULL OR EXISTS (SELECT FROM ${quoteQualified(this.table.log)} AS l
               WHERE ${committedBetween('l.txid', '$2::pg_snapshot', '$1::pg_snapshot')}) AS behind`,
      values: [primarySnapshot, replicaSnapshot],
    };
  }
}

/** A JSON array of key objects, built from their text (never parsed: bigint keys stay exact). */
export function keysArray(keys: readonly string[]): string {
  return `[${keys.join(',')}]`;
}
