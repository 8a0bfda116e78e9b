/**
 * A product a DBA installs on a database of their own: `replicator init`
 * touches none of its tables, and `replicator uninstall` leaves the catalogs
 * of both databases exactly as they were before the install (schemas,
 * relations, functions, triggers, types, privileges), with the user's rows
 * untouched, after a real run: tables added (a partitioned one too), grants
 * applied, changes replicated.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { runCli } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, TEST_PASSWORD, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

/**
 * Everything of a database a DBA would see in its catalogs, as sorted lines.
 * Privileges are compared as they take effect: a grant revoked leaves an
 * explicit ACL equal to the owner's default, which is the same privileges.
 */
async function catalogs(client: pg.Client): Promise<string[]> {
  // Grants on parameters (GRANT SET ON PARAMETER) exist from PostgreSQL 15 on.
  const { rows: version } = await client.query<{ n: number }>("SELECT current_setting('server_version_num')::int AS n");
  const parameters =
    (version[0]?.n ?? 0) >= 150000
      ? `UNION ALL SELECT 'parameter ' || p.parname || ' ' || coalesce(p.paracl::text, '') FROM pg_parameter_acl p`
      : '';
  const mine = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`;
  const { rows } = await client.query<{ line: string }>(`
    SELECT 'schema ' || n.nspname || ' ' || coalesce(n.nspacl, acldefault('n'::"char", n.nspowner))::text AS line FROM pg_namespace n WHERE ${mine}
    UNION ALL SELECT 'relation ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(c.relacl, acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))::text
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${mine}
    UNION ALL SELECT 'column acl ' || c.oid::regclass || '.' || a.attname || ' ' || a.attacl::text
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${mine} AND a.attacl IS NOT NULL
    UNION ALL SELECT 'function ' || p.oid::regprocedure || ' ' || coalesce(p.proacl, acldefault('f'::"char", p.proowner))::text
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ${mine}
    UNION ALL SELECT 'trigger ' || g.tgrelid::regclass || ' ' || g.tgname || ' ' || g.tgenabled::text FROM pg_trigger g WHERE NOT g.tgisinternal
    UNION ALL SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE ${mine}
    ${parameters}
    UNION ALL SELECT 'database ' || coalesce(d.datacl, acldefault('d'::"char", d.datdba))::text FROM pg_database d WHERE d.datname = current_database()
    ORDER BY 1`);
  return rows.map((r) => r.line);
}

describe('init and uninstall', () => {
  let servers: TestServers;
  let env: Record<string, string>;
  const before_: { primary: string[]; replica: string[] } = { primary: [], replica: [] };

  before(async () => {
    servers = await startTestServers({ install: false });
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    const schema = `CREATE SCHEMA shop;
      CREATE TYPE shop.state AS ENUM ('new', 'paid');
      CREATE TABLE shop.customers (id bigint PRIMARY KEY, name text NOT NULL);
      CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer bigint REFERENCES shop.customers, state shop.state, at date NOT NULL);
      CREATE TABLE shop.events (id bigint, at date, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE public.users (user_id bigint PRIMARY KEY, name text);`;
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      await sql.query(schema);
      await sql.query(`CREATE ROLE ${REPLICATOR_ROLE} LOGIN PASSWORD '${TEST_PASSWORD}'`);
    }
    await servers.primarySql.query(`INSERT INTO shop.customers VALUES (1, 'Ada'), (2, 'Bob');
      INSERT INTO shop.orders VALUES (10, 1, 'new', '2026-03-01');
      INSERT INTO shop.events VALUES (1, '2026-02-02', 'created');
      INSERT INTO public.users VALUES (1, 'an application''s own users table')`);
    before_.primary = await catalogs(servers.primarySql);
    before_.replica = await catalogs(servers.replicaSql);
  });
  after(async () => {
    await servers.stop();
  });

  it("init touches none of the database's own tables, not even a table named users", async () => {
    const init = await runCli(['init'], env);
    assert.equal(init.code, 0, init.stderr);
    const users = await servers.primarySql.query(
      "SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'public.users'::regclass AND NOT tgisinternal",
    );
    assert.equal(users.rows[0].n, 0);
    assert.deepEqual(await tableText(servers.primarySql, 'public.users'), ['(1,"an application\'s own users table")']);
  });

  it('uninstall, after tables were added and replicated, leaves both catalogs as they were', async () => {
    const privileges = await runCli(
      ['privileges', '--primary-role', REPLICATOR_ROLE, '--replica-role', REPLICATOR_ROLE, '--apply'],
      env,
    );
    assert.equal(privileges.code, 0, privileges.stderr);
    const added = await runCli(['add', 'shop.customers', 'shop.orders', 'shop.events', '--no-wait'], env);
    assert.equal(added.code, 0, added.stderr);
    const service = await startInProcess(servers);
    try {
      await servers.primarySql.query(
        "INSERT INTO shop.orders VALUES (11, 2, 'paid', '2026-04-01'); INSERT INTO shop.events_2026 VALUES (2, '2026-05-05', 'direct')",
      );
      await waitFor('the tables replicated', async () => (await tableText(servers.replicaSql, 'shop.events')).length === 2);
    } finally {
      await service.stop();
    }
    const rowsBefore = await tableText(servers.primarySql, 'shop.orders');

    const uninstall = await runCli(['uninstall'], env);
    assert.equal(uninstall.code, 0, uninstall.stderr);
    assert.match(uninstall.stdout, /primary: removed capture of shop\.orders \(change log replicator\.orders_changes\)/);
    assert.match(uninstall.stdout, /primary: removed schema replicator/);
    assert.match(uninstall.stdout, /replica: removed grants to the replicator's logins/);
    assert.deepEqual(await catalogs(servers.primarySql), before_.primary);
    assert.deepEqual(await catalogs(servers.replicaSql), before_.replica);
    assert.deepEqual(await tableText(servers.primarySql, 'shop.orders'), rowsBefore);
    assert.equal((await tableText(servers.replicaSql, 'shop.orders')).length, 2, 'the replica keeps its rows');

    const again = await runCli(['uninstall'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing of pg-replicator's was installed/);
  });
});
