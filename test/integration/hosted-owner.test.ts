/**
 * A hosted database, where nobody the replicator deals with is a superuser:
 * the application's owner (owns its schema and tables, may create schemas in
 * the database) runs init, add, privileges and uninstall; the replicator runs
 * as its least-privilege login; the application writes as a role that may
 * only write its tables; and the bystander of every test file
 * (test/support/bystander-traps.ts) has its traps in public. Everything works,
 * nothing runs as someone it should not, and uninstall leaves no trace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, TEST_PASSWORD, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

const OWNER = 'app_owner';
const WRITER = 'app_writer';

describe('hosted: no superuser', () => {
  let servers: TestServers;
  let service: Service | undefined;
  let asOwner: Record<string, string>;
  const as = (role: string, url: string) => url.replace('://postgres:', `://${role}:`);

  before(async () => {
    servers = await startTestServers({ install: false });
    asOwner = {
      PRIMARY_DATABASE_URL: as(OWNER, servers.primaryUrl),
      REPLICA_DATABASE_URL: as(OWNER, servers.replicaUrl),
    };
    // What a hosted service's admin console does: logins, and the right to create schemas.
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      await sql.query(`CREATE ROLE ${OWNER} LOGIN NOSUPERUSER PASSWORD '${TEST_PASSWORD}';
        CREATE ROLE ${REPLICATOR_ROLE} LOGIN NOSUPERUSER PASSWORD '${TEST_PASSWORD}';
        GRANT CREATE ON DATABASE postgres TO ${OWNER};`);
    }
    await servers.primarySql.query(`CREATE ROLE ${WRITER} LOGIN NOSUPERUSER PASSWORD '${TEST_PASSWORD}'`);
    // The application's schema, created by its owner on both sides.
    for (const url of [servers.primaryUrl, servers.replicaUrl]) {
      const owner = new pg.Client(as(OWNER, url));
      await owner.connect();
      await owner.query(`CREATE SCHEMA shop;
        CREATE TABLE shop.orders (id bigint PRIMARY KEY, note text, at date NOT NULL);
        CREATE TABLE shop.events (id bigint, at date, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
        CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');`);
      if (url === servers.primaryUrl) {
        await owner.query(`INSERT INTO shop.orders VALUES (1, 'before install', '2026-01-01');
          GRANT USAGE ON SCHEMA shop TO ${WRITER};
          GRANT SELECT, INSERT, UPDATE, DELETE ON shop.orders, shop.events, shop.events_2026 TO ${WRITER};`);
      }
      await owner.end();
    }
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('the owner installs, adds and grants; the replicator replicates what the writer writes; uninstall leaves no trace', async () => {
    for (const args of [['init'], ['add', 'shop.orders', 'shop.events', '--no-wait']]) {
      const r = await runCli(args, asOwner);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    const granted = await runCli(
      ['privileges', '--primary-role', REPLICATOR_ROLE, '--replica-role', REPLICATOR_ROLE, '--apply'],
      asOwner,
    );
    assert.equal(granted.code, 0, granted.stdout + granted.stderr);

    service = await startInProcess(servers);
    const writer = new pg.Client(as(WRITER, servers.primaryUrl));
    await writer.connect();
    await writer.query(`INSERT INTO shop.orders VALUES (2, 'written by the application', '2026-02-02');
      UPDATE shop.orders SET note = 'updated' WHERE id = 1;
      INSERT INTO shop.events VALUES (1, '2026-03-03', 'into the partition');`);
    await writer.query("INSERT INTO shop.events_2026 VALUES (2, '2026-04-04', 'named directly')");
    await writer.end();
    for (const table of ['shop.orders', 'shop.events']) {
      await waitFor(
        `${table} replicated`,
        async () =>
          JSON.stringify(await tableText(servers.replicaSql, table)) ===
          JSON.stringify(await tableText(servers.primarySql, table)),
      );
    }
    const verify = await runCli(['verify'], {
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
    });
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);

    // Nothing installed runs as a superuser, and nothing is owned by one.
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      const { rows } = await sql.query<{ what: string }>(`
        SELECT p.oid::regprocedure::text AS what FROM pg_proc p
          WHERE p.pronamespace = 'replicator'::regnamespace AND pg_get_userbyid(p.proowner) <> '${OWNER}'
        UNION ALL SELECT c.oid::regclass::text FROM pg_class c
          WHERE c.relnamespace = 'replicator'::regnamespace AND pg_get_userbyid(c.relowner) <> '${OWNER}'`);
      assert.deepEqual(rows, []);
    }

    await service.stop();
    service = undefined;
    const removed = await runCli(['uninstall'], asOwner);
    assert.equal(removed.code, 0, removed.stdout + removed.stderr);
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      const left = await sql.query(`SELECT 'schema' FROM pg_namespace WHERE nspname = 'replicator'
        UNION ALL SELECT tgname FROM pg_trigger WHERE NOT tgisinternal`);
      assert.deepEqual(left.rows, []);
    }
    assert.deepEqual(await tableText(servers.primarySql, 'shop.orders'), [
      '(1,updated,2026-01-01)',
      '(2,"written by the application",2026-02-02)',
    ]);
  });
});
