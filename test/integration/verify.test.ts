/**
 * `replicator verify` on real servers, run as the least-privilege replicator
 * logins: identical tables, each kind of difference reported precisely (a
 * bigint key past 2^53, a composite text key whose collation differs between
 * the servers), --repair, no false differences while writers keep changing
 * the primary under a running replicator, and a difference the replica has not
 * caught up with left unjudged rather than reported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const ITEMS_ROWS = 20_000;
const BIG_ID = '9007199254740993'; // 2^53 + 1: not a JS number
const ORDER_ITEMS = '"Sales"."Order Items"';

interface TableJson {
  table: string;
  status: string;
  rows: { primary: number; replica: number };
  ranges: number;
  collate_c: string[];
  differences: { missing: number; extra: number; different: number };
  missing: Record<string, unknown>[];
  extra: Record<string, unknown>[];
  different: Record<string, unknown>[];
  unconfirmed: Array<{ key: Record<string, unknown>; kind: string; reason: string }>;
  repair: { inserted: Record<string, unknown>[]; updated: Record<string, unknown>[]; deleted: Record<string, unknown>[] } | null;
}

describe('verify', () => {
  let servers: TestServers;
  let service: Service | undefined;
  let env: Record<string, string>;

  const verify = async (...args: string[]) => {
    const result = await runCli(['verify', ...args], env);
    const json = args.includes('--json') && result.stdout ? JSON.parse(result.stdout) : undefined;
    const tables = new Map<string, TableJson>((json?.tables ?? []).map((t: TableJson) => [t.table, t]));
    return { ...result, json, tables };
  };
  const keys = (list: Record<string, unknown>[]) => list.map((k) => JSON.stringify(k)).sort();

  before(async () => {
    servers = await startTestServers();
    const owner = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    env = { PRIMARY_DATABASE_URL: servers.replicator.primaryUrl, REPLICA_DATABASE_URL: servers.replicator.replicaUrl };
    await servers.primarySql.query(`
      CREATE TABLE items (id bigint PRIMARY KEY, v int NOT NULL, note text, at timestamptz NOT NULL);
      INSERT INTO items SELECT g, g % 97, 'row ' || g, timestamptz '2025-01-01 00:00:00.123456+00' + g * interval '1 minute'
        FROM generate_series(1, ${ITEMS_ROWS}) g;
      INSERT INTO items VALUES (${BIG_ID}, 1, 'past 2^53', now());
      CREATE SCHEMA "Sales";
      CREATE TABLE ${ORDER_ITEMS} (region text, code text, qty int NOT NULL, price numeric(10, 2), PRIMARY KEY (region, code));
      INSERT INTO ${ORDER_ITEMS}
        SELECT r, c || '-' || g, g, g / 3.0 FROM pg_catalog.unnest(ARRAY['north', 'South', 'east', 'West']) r,
          pg_catalog.unnest(ARRAY['a', 'B', 'c']) c, generate_series(1, 500) g;`);
    // The replica's region sorts by English rules, the primary's by code point:
    // the same bounds select different rows unless compared in one collation.
    await servers.replicaSql.query(`
      CREATE SCHEMA "Sales";
      CREATE TABLE ${ORDER_ITEMS} (region text COLLATE "en-x-icu", code text, qty int NOT NULL, price numeric(10, 2),
        PRIMARY KEY (region, code));
      GRANT USAGE ON SCHEMA "Sales" TO ${REPLICATOR_ROLE};
      GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ${ORDER_ITEMS} TO ${REPLICATOR_ROLE};`);
    const added = await runCli(['add', 'items', ORDER_ITEMS, '--no-wait'], owner);
    assert.equal(added.code, 0, added.stderr);
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
    await waitFor(
      'both initial copies done',
      async () =>
        // The two tables by name: the demo's users table is copied too, and may finish in the same batch.
        (
          await servers.replicaSql.query(`SELECT count(*)::int AS n FROM replicator.copy_progress
            WHERE done AND (table_schema, table_name) IN (('public', 'items'), ('Sales', 'Order Items'))`)
        ).rows[0]?.n === 2,
      30_000,
    );
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('says identical, with counts, and exits 0', async () => {
    const result = await verify('--json');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(result.json.identical, true);
    const items = result.tables.get('items');
    assert.deepEqual(items?.rows, { primary: ITEMS_ROWS + 1, replica: ITEMS_ROWS + 1 });
    assert.equal(items?.status, 'identical');
    assert.ok((items?.ranges ?? 0) >= 1);
    const orderItems = result.tables.get('Sales.Order Items');
    assert.deepEqual(orderItems?.rows, { primary: 6_000, replica: 6_000 });
    assert.deepEqual(orderItems?.collate_c, ['region'], 'the differing collation is detected');
    assert.equal(result.tables.get('users')?.status, 'identical');

    const text = await verify();
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^items: 20,001 rows, \d+ ranges?: identical/m);
    assert.match(text.stdout, /^verify: 3 tables: 3 identical/m);
  });

  it('reports a missing row, an extra row and a different value precisely, and exits 9', async () => {
    await servers.replicaSql.query(`
      DELETE FROM items WHERE id = 17;
      INSERT INTO items VALUES (-1, 0, 'only on the replica', now());
      UPDATE items SET note = 'drift' WHERE id = 12345;
      UPDATE items SET v = 2 WHERE id = ${BIG_ID};
      DELETE FROM ${ORDER_ITEMS} WHERE region = 'South' AND code = 'a-5';
      INSERT INTO ${ORDER_ITEMS} VALUES ('West', 'zz', 1, 1);
      UPDATE ${ORDER_ITEMS} SET price = 0.01 WHERE region = 'north' AND code = 'B-7';`);
    const result = await verify('--json');
    assert.equal(result.code, 9, result.stdout + result.stderr);
    assert.equal(result.json.identical, false);
    const items = result.tables.get('items') as TableJson;
    assert.equal(items.status, 'different');
    assert.deepEqual(items.differences, { missing: 1, extra: 1, different: 2 });
    assert.deepEqual(keys(items.missing), ['{"id":17}']);
    assert.deepEqual(keys(items.extra), ['{"id":-1}']);
    // The bigint key is printed exactly (JSON.parse would round it).
    assert.match(result.stdout, new RegExp(`"different": \\[[^\\]]*\\{"id" : ${BIG_ID}\\}`));
    const orderItems = result.tables.get('Sales.Order Items') as TableJson;
    assert.deepEqual(orderItems.differences, { missing: 1, extra: 1, different: 1 });
    assert.deepEqual(keys(orderItems.missing), ['{"region":"South","code":"a-5"}']);
    assert.deepEqual(keys(orderItems.extra), ['{"region":"West","code":"zz"}']);
    assert.deepEqual(keys(orderItems.different), ['{"region":"north","code":"B-7"}']);
    assert.equal(result.tables.get('users')?.status, 'identical');

    const text = await verify('items');
    assert.equal(text.code, 9);
    assert.match(text.stdout, /^items: 20,001 rows \(replica 20,001\)|^items: 20,001 rows, /m);
    assert.match(text.stdout, /4 differences \(1 missing on replica, 1 extra on replica, 2 different\)/);
    assert.match(text.stdout, /missing on replica +\{"id" : 17\}/);
    assert.match(text.stdout, new RegExp(`different +\\{"id" : ${BIG_ID}\\}`));
  });

  it('--repair rewrites them from the primary; verify then says identical', async () => {
    const repaired = await verify('--repair', '--json');
    assert.equal(repaired.code, 9, 'the exit code reports what was found');
    const items = repaired.tables.get('items') as TableJson;
    assert.deepEqual(keys(items.repair?.inserted ?? []), ['{"id":17}']);
    assert.deepEqual(keys(items.repair?.deleted ?? []), ['{"id":-1}']);
    assert.equal(items.repair?.updated?.length, 2);
    const orderItems = repaired.tables.get('Sales.Order Items') as TableJson;
    assert.deepEqual(
      [orderItems.repair?.inserted.length, orderItems.repair?.updated.length, orderItems.repair?.deleted.length],
      [1, 1, 1],
    );

    const again = await verify();
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /^verify: 3 tables: 3 identical/m);
    for (const [table, order] of [
      ['items', 'id'],
      [ORDER_ITEMS, 'region COLLATE "C", code COLLATE "C"'],
    ] as const) {
      assert.deepEqual(await tableText(servers.replicaSql, table, order), await tableText(servers.primarySql, table, order));
    }
  });

  it('reports no difference while writers keep changing the primary under a running replicator', async () => {
    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 3 });
    let writing = true;
    let writes = 0;
    const writer = async (worker: number) => {
      for (let i = 0; writing; i++) {
        const id = 1 + ((i * 7919 + worker * 104_729) % ITEMS_ROWS);
        if (i % 10 === 9) await writers.query('DELETE FROM items WHERE id = $1', [id]);
        else if (i % 10 === 8)
          await writers.query('INSERT INTO items VALUES ($1, 1, $2, now()) ON CONFLICT (id) DO NOTHING', [
            ITEMS_ROWS + 1_000 + worker * 1_000_000 + i,
            'new',
          ]);
        else if (i % 10 === 7)
          await writers.query(`UPDATE ${ORDER_ITEMS} SET qty = qty + 1 WHERE region = 'east' AND code = $1`, [
            `c-${1 + (i % 500)}`,
          ]);
        else await writers.query('UPDATE items SET v = v + 1, note = $2, at = now() WHERE id = $1', [id, `w${worker}:${i}`]);
        writes++;
      }
    };
    const running = [writer(0), writer(1), writer(2)];
    try {
      await waitFor('writes under way', async () => writes > 50);
      let before = writes;
      const result = await verify('--json');
      assert.ok(writes - before > 100, `the primary was written during verify (${writes - before} writes)`);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      for (const table of result.tables.values()) {
        assert.deepEqual(table.differences, { missing: 0, extra: 0, different: 0 }, table.table);
        assert.deepEqual(table.unconfirmed, [], table.table);
      }

      // A real difference in the same table the writers change is found, exactly, and repaired.
      await servers.replicaSql.query(`UPDATE ${ORDER_ITEMS} SET qty = -1 WHERE region = 'north' AND code = 'c-9'`);
      before = writes;
      const drift = await verify(ORDER_ITEMS, '--repair', '--json');
      assert.ok(writes - before > 50, `the primary was written during verify --repair (${writes - before} writes)`);
      assert.equal(drift.code, 9, drift.stdout + drift.stderr);
      const orderItems = drift.tables.get('Sales.Order Items') as TableJson;
      assert.deepEqual(orderItems.differences, { missing: 0, extra: 0, different: 1 });
      assert.deepEqual(keys(orderItems.different), ['{"region":"north","code":"c-9"}']);
      assert.deepEqual(keys(orderItems.repair?.updated ?? []), ['{"region":"north","code":"c-9"}']);
    } finally {
      writing = false;
      await Promise.all(running);
      await writers.end();
    }
    const settled = await verify();
    assert.equal(settled.code, 0, settled.stdout + settled.stderr);
  });

  it('works without a replicator on a quiet primary, and does not judge a change the replica has not received', async () => {
    await service?.stop();
    service = undefined;
    const quiet = await verify();
    assert.equal(quiet.code, 0, quiet.stdout + quiet.stderr);

    // Captured on the primary, not applied: the replica is behind, not wrong.
    await servers.primarySql.query(`UPDATE ${ORDER_ITEMS} SET qty = 0 WHERE region = 'West' AND code = 'a-1'`);
    await servers.primarySql.query(`INSERT INTO ${ORDER_ITEMS} VALUES ('West', 'new', 1, 1)`);
    const pending = await verify(ORDER_ITEMS, '--wait', '1s', '--json');
    assert.equal(pending.code, 9);
    const orderItems = pending.tables.get('Sales.Order Items') as TableJson;
    assert.equal(orderItems.status, 'unconfirmed');
    assert.deepEqual(orderItems.differences, { missing: 0, extra: 0, different: 0 });
    assert.deepEqual(
      orderItems.unconfirmed.sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key))),
      [
        { key: { region: 'West', code: 'a-1' }, kind: 'different', reason: 'replica behind' },
        { key: { region: 'West', code: 'new' }, kind: 'missing', reason: 'replica behind' },
      ],
    );
    const text = await verify(ORDER_ITEMS, '--wait', '200ms');
    assert.equal(text.code, 9);
    assert.match(text.stdout, /the replica did not reach the primary's position within --wait/);

    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
    const caughtUp = await verify(ORDER_ITEMS);
    assert.equal(caughtUp.code, 0, caughtUp.stdout + caughtUp.stderr);
  });
});
