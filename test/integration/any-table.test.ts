/**
 * Any table with a key: the replication set commands, identifiers that need
 * quoting, composite and declared keys, tables without a key refused with
 * the fix, and column changes on the primary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { TEST_LOGICAL } from '../support/capture-mode.js';
import { runCli } from '../support/cli.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const ORDER_ITEMS = '"Odd Schema"."Order Items ✓"';

describe('any table', () => {
  let servers: TestServers;
  let service: Service;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    await servers.primarySql.query(`
      CREATE SCHEMA "Odd Schema";
      CREATE TABLE ${ORDER_ITEMS} ("Order Id" bigint, "line ""no""" int, "Qty" numeric NOT NULL, note text,
        PRIMARY KEY ("Order Id", "line ""no"""));
      CREATE TABLE events (event_id uuid NOT NULL, payload jsonb, happened timestamptz(3));
      CREATE UNIQUE INDEX ON events (event_id);
      CREATE TABLE keyless (a int, b text);`);
    service = await startInProcess(servers, { POLL_INTERVAL: '100ms' });
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  const same = async (table: string, orderBy = '1') =>
    JSON.stringify(await tableText(servers.replicaSql, table, orderBy)) ===
    JSON.stringify(await tableText(servers.primarySql, table, orderBy));

  it('adds a table with quoted identifiers and a composite key, idempotently, creating it on the replica', async () => {
    for (let i = 0; i < 2; i++) {
      const result = await runCli(['add', ORDER_ITEMS], env);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /(added|already in the replication set:) Odd Schema\.Order Items ✓ → change log replicator\."?Order Items ✓_changes/,
      );
    }
    const list = await runCli(['list', '--json'], env);
    const entries = JSON.parse(list.stdout) as Array<{ table: { name: string } }>;
    assert.deepEqual(entries.map((e) => e.table.name).sort(), ['Order Items ✓', 'users'].sort());

    await servers.primarySql.query(`INSERT INTO ${ORDER_ITEMS} VALUES (1, 1, 2.50, 'a'), (1, 2, 1, NULL), (2, 1, 1e-20, 'b')`);
    await servers.primarySql.query(
      `UPDATE ${ORDER_ITEMS} SET "line ""no""" = 3, note = 'moved' WHERE "Order Id" = 1 AND "line ""no""" = 2`,
    );
    await servers.primarySql.query(`DELETE FROM ${ORDER_ITEMS} WHERE "Order Id" = 2`);
    await waitFor('order items replicated', () => same(ORDER_ITEMS));
    assert.equal((await tableText(servers.replicaSql, ORDER_ITEMS)).length, 2);
  });

  it('refuses a table without a key, saying how to fix it, and accepts a declared key', async () => {
    const refused = await runCli(['add', 'keyless'], env);
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /table public\.keyless has no primary key; add one .* or name a unique, not-null column set/);
    if (TEST_LOGICAL) {
      // Published without an identity on its key, the application's UPDATEs would fail: refused first.
      const unpublishable = await runCli(['add', 'events', '--key', 'event_id'], env);
      assert.equal(unpublishable.code, 4);
      assert.match(unpublishable.stderr, /replica identity of events \(primary key on nothing\) .*REPLICA IDENTITY USING INDEX/);
      await servers.primarySql.query('ALTER TABLE events REPLICA IDENTITY USING INDEX events_event_id_idx');
    }
    const declared = await runCli(['add', 'events', '--key', 'event_id'], env);
    assert.equal(declared.code, 0, declared.stderr);
    await servers.primarySql.query(`
      INSERT INTO events VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, 2.50, null]}', '2024-01-01 00:00:00.123+00');
      UPDATE events SET payload = payload || '{"x": true}';`);
    await waitFor('events replicated', () => same('events'));
  });

  it('pauses on a column added on the primary and resumes, nothing lost, once the replica has it', async () => {
    await servers.primarySql.query(`ALTER TABLE ${ORDER_ITEMS} ADD COLUMN discount numeric DEFAULT 0`);
    await servers.primarySql.query(`INSERT INTO ${ORDER_ITEMS} VALUES (3, 1, 5, 'new', 0.25)`);
    await waitFor('the pause', async () => /has no column discount/.test(service.status.lastError ?? ''));
    assert.equal(service.status.state, 'failing');
    assert.match(service.status.lastError ?? '', /ALTER TABLE "Odd Schema"\."Order Items ✓" ADD COLUMN "discount" numeric/);
    await servers.replicaSql.query(`ALTER TABLE ${ORDER_ITEMS} ADD COLUMN discount numeric DEFAULT 0`);
    await waitFor('resumed', () => same(ORDER_ITEMS));
  });

  it('captures a partitioned table at its root: every partition, present and future, and rows moving between them', async () => {
    await servers.primarySql.query(`
      CREATE TABLE measurements (id int, region text, v int, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
      CREATE TABLE measurements_eu PARTITION OF measurements FOR VALUES IN ('eu');
      CREATE TABLE measurements_us PARTITION OF measurements FOR VALUES IN ('us');
      INSERT INTO measurements VALUES (1, 'eu', 1), (2, 'us', 2);`);
    const added = await runCli(['add', 'measurements'], env);
    assert.equal(added.code, 0, added.stderr);
    await servers.primarySql.query(`
      CREATE TABLE measurements_asia PARTITION OF measurements FOR VALUES IN ('asia');
      INSERT INTO measurements VALUES (3, 'asia', 3);
      UPDATE measurements SET region = 'us' WHERE id = 1;
      DELETE FROM measurements WHERE id = 2;`);
    await waitFor('partitions replicated', () => same('measurements'));
    assert.deepEqual(await tableText(servers.replicaSql, 'measurements'), ['(1,us,1)', '(3,asia,3)']);
  });

  it('removes a table: capture and pending changes gone, replica rows kept', async () => {
    const result = await runCli(['remove', 'Odd Schema.Order Items ✓'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /removed/);
    const triggers = await servers.primarySql.query(
      `SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = '${ORDER_ITEMS.replace(/'/g, "''")}'::regclass AND NOT tgisinternal`,
    );
    assert.equal(triggers.rows[0].n, 0);
    const again = await runCli(['remove', 'Odd Schema.Order Items ✓'], env);
    assert.match(again.stdout, /not in the replication set/);
    assert.equal((await tableText(servers.replicaSql, ORDER_ITEMS)).length, 3);
  });
});

describe('AUTO_ADD_COLUMNS', () => {
  let servers: TestServers;
  let service: Service;
  before(async () => {
    servers = await startTestServers();
    service = await startInProcess(servers, { AUTO_ADD_COLUMNS: 'true' }, true); // ALTER TABLE needs the owner
  });
  after(async () => {
    await service.stop();
    await servers.stop();
  });

  it('adds a column the primary gained to the replica itself', async () => {
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('x', 'x@auto.example')");
    await waitFor('first row', async () => (await tableText(servers.replicaSql, 'users')).length === 1);
    await servers.primarySql.query("ALTER TABLE users ADD COLUMN nickname varchar(20); UPDATE users SET nickname = 'xx'");
    await waitFor('the new column replicated', async () => {
      const { rows } = await servers.replicaSql.query('SELECT nickname FROM users').catch(() => ({ rows: [] }));
      return rows[0]?.nickname === 'xx';
    });
    assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
  });
});
