import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicatedTable } from '../../src/tables/table-model.js';
import { diffRows, splitRange } from '../../src/verify/compare-ranges.js';
import { decide, type Observed } from '../../src/verify/confirm-differences.js';
import { formatJson, formatTable } from '../../src/verify/format-report.js';
import { columnCollation, sameOrder } from '../../src/verify/key-order.js';
import { limiter } from '../../src/verify/sides.js';
import { TableSql } from '../../src/verify/table-sql.js';
import type { TableReport } from '../../src/verify/verify.js';

const row = (hash: string, version: string): Observed => ({ hash, version });

describe('decide (one key, one confirmation round)', () => {
  it('the replica equal to the primary row it must hold: same', () => {
    assert.equal(decide(row('h1', '10'), row('h1', '10'), row('h0', '5'), row('h1', '11')), 'same');
    assert.equal(decide(null, null, row('h0', '5'), null), 'same');
  });

  it('primary row unchanged between its two reads: the replica must hold it', () => {
    assert.equal(decide(row('h1', '10'), row('h1', '10'), row('hx', '5'), row('hx', '6')), 'different');
    assert.equal(decide(row('h1', '10'), row('h1', '10'), null, null), 'missing');
  });

  it('replica row unchanged between its two reads: it must equal the primary read between them', () => {
    assert.equal(decide(null, null, row('hx', '7'), row('hx', '7')), 'extra');
    assert.equal(decide(row('h1', '10'), row('h2', '12'), row('hx', '7'), row('hx', '7')), 'different');
    // a row inserted, then deleted around the replica's read: not judged on the replica's versions alone…
    assert.equal(decide(null, null, row('hx', '7'), row('hx', '8')), 'retry');
  });

  it('both sides moved: the same if the replica equals either primary read, else another round', () => {
    assert.equal(decide(row('h1', '10'), row('h2', '12'), row('h0', '5'), row('h2', '9')), 'same');
    assert.equal(decide(row('h1', '10'), row('h2', '12'), row('h0', '5'), row('h1', '9')), 'same');
    assert.equal(decide(row('h1', '10'), row('h2', '12'), row('h0', '5'), row('h0', '9')), 'retry');
    assert.equal(decide(row('h1', '10'), null, row('h0', '5'), row('h0', '9')), 'retry');
  });

  it('a table of key columns only: replica versions prove nothing (re-inserting a key writes no new version)', () => {
    assert.equal(decide(null, null, row('hx', '7'), row('hx', '7'), false), 'retry');
    assert.equal(decide(row('h1', '10'), row('h1', '10'), null, null, false), 'missing');
  });
});

describe('key order', () => {
  const database = { datlocprovider: 'c', datcollate: 'C.UTF-8', datctype: 'C.UTF-8', datcollversion: null };
  const defaultCollation = { collname: 'default', collprovider: 'd' };

  it('resolves the default collation to the database locale', () => {
    const a = columnCollation(defaultCollation, database);
    const b = columnCollation({ collname: 'x', collprovider: 'c', collcollate: 'C.UTF-8', collctype: 'C.UTF-8' }, database);
    assert.equal(a?.bytewise, false);
    assert.ok(sameOrder(a, b));
  });

  it('byte-order collations agree with each other; locales and versions must match otherwise', () => {
    const c = columnCollation({ collprovider: 'c', collcollate: 'C' }, database);
    const builtin = columnCollation({ collprovider: 'b', colllocale: 'C.UTF-8' }, database);
    const icu = columnCollation({ collprovider: 'i', colllocale: 'en', collversion: '153.1' }, database);
    const icuNewer = columnCollation({ collprovider: 'i', colllocale: 'en', collversion: '153.2' }, database);
    assert.ok(sameOrder(c, builtin));
    assert.ok(!sameOrder(c, icu));
    assert.ok(!sameOrder(icu, icuNewer));
    assert.ok(!sameOrder(columnCollation(defaultCollation, database), icu));
    assert.ok(sameOrder(null, null), 'columns that are not text-like');
  });
});

describe('ranges', () => {
  it('diffRows: keys missing on either side or hashing differently', () => {
    const primary = new Map([
      ['{"id":1}', 'a'],
      ['{"id":2}', 'b'],
      ['{"id":3}', 'c'],
    ]);
    const replica = new Map([
      ['{"id":1}', 'a'],
      ['{"id":3}', 'x'],
      ['{"id":4}', 'd'],
    ]);
    assert.deepEqual(diffRows(primary, replica).sort(), ['{"id":2}', '{"id":3}', '{"id":4}']);
  });

  it('splitRange: consecutive (lo, hi] parts covering the range', () => {
    assert.deepEqual(splitRange({ lo: null, hi: null }, ['k1', 'k2']), [
      { lo: null, hi: 'k1' },
      { lo: 'k1', hi: 'k2' },
      { lo: 'k2', hi: null },
    ]);
    assert.deepEqual(splitRange({ lo: 'a', hi: 'z' }, []), [{ lo: 'a', hi: 'z' }]);
  });

  it('runs at most n tasks at once', async () => {
    const limit = limiter(2);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        limit(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
        }),
      ),
    );
    assert.equal(peak, 2);
  });
});

describe('TableSql', () => {
  // Asserted, not annotated: fields the description gains later need no change here.
  const table = {
    table: { schema: 'Sales', name: 'Order "Items"' },
    log: { schema: 'replicator', name: 'order_items_changes' },
    columns: [{ name: 'region' }, { name: 'code' }, { name: 'qty' }],
    keyColumns: ['region', 'code'],
    primaryKeyOperators: ['pg_catalog.=', 'pg_catalog.='],
    primaryKeyGreater: ['pg_catalog.>', 'pg_catalog.>'],
    replicaRow: ['region', 'code', 'qty'],
  } as ReplicatedTable;

  it('passes bounds as parameters and quotes identifiers', () => {
    const lo = '{"region":"x\'); DROP TABLE t; --","code":"1"}';
    const q = new TableSql(table).rangeHash({ lo, hi: null });
    assert.ok(!q.text.includes('DROP TABLE'));
    assert.deepEqual(q.values, [lo]);
    assert.match(q.text, /"Sales"\."Order ""Items"""/);
    assert.match(
      q.text,
      /\(t\."region", t\."code"\) OPERATOR\(pg_catalog\.>\) \(\(SELECT b\."region" FROM pg_catalog\.json_populate_record/,
    );
  });

  it('compares the named key columns with COLLATE "C" on both sides of every comparison and in the order', () => {
    const sql = new TableSql(table, new Set(['region']));
    const q = sql.boundaries({ lo: '{}', hi: '{}' }, 100);
    assert.match(
      q.text,
      /\(t\."region" COLLATE "C", t\."code"\) OPERATOR\(pg_catalog\.>\) \(\(SELECT b\."region" COLLATE "C" FROM/,
    );
    assert.match(q.text, /ORDER BY t\."region" COLLATE "C", t\."code"\)/);
    assert.deepEqual(q.values, ['{}', '{}', 100, ['region', 'code']]);
  });
});

describe('format', () => {
  const report: TableReport = {
    table: 'items',
    status: 'different',
    rows: { primary: 10, replica: 9 },
    ranges: 3,
    leaves: 1,
    candidates: 1,
    rounds: 1,
    collateC: [],
    missing: ['{"id" : 9007199254740993}'],
    extra: [],
    different: [],
    unconfirmed: [],
    repair: null,
    message: null,
    elapsedMs: 1234,
  };

  it('prints the counts and the keys', () => {
    const text = formatTable(report);
    assert.match(text, /^items: 10 rows \(replica 9\), 3 ranges: 1 difference \(1 missing on replica\) \(1\.2 s\)$/m);
    assert.match(text, /missing on replica +\{"id" : 9007199254740993\}/);
  });

  it('embeds keys in JSON as the servers printed them (a bigint stays exact)', () => {
    const json = formatJson({ identical: false, tables: [report], elapsedMs: 1300 });
    assert.match(json, /"missing": \[\n\s+\{"id" : 9007199254740993\}\n\s+\]/);
    assert.equal(JSON.parse(json).tables[0].differences.missing, 1);
  });
});
