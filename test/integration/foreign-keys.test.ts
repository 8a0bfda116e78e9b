/**
 * A replica whose foreign keys fire during apply: the replicator's login may
 * not set session_replication_role (PostgreSQL 14 without superuser, or no
 * parameter grant). Tables are applied parents first and emptied children
 * first, initial copies included, so a child's row never arrives before the
 * parent row it references, in one transaction or across the initial copy.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('foreign keys that fire on the replica', () => {
  let servers: TestServers;
  let service: Service;

  before(async () => {
    servers = await startTestServers();
    // As on PostgreSQL 14, or where no superuser granted the parameter: the replica's triggers and keys fire.
    // (PostgreSQL 14 has no parameter grants: there the login never may.)
    await servers.replicaSql.query(`DO $$ BEGIN IF pg_catalog.current_setting('server_version_num')::int >= 150000 THEN
      EXECUTE 'REVOKE SET ON PARAMETER session_replication_role FROM ${REPLICATOR_ROLE}'; END IF; END $$`);
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  const same = async (table: string) =>
    JSON.stringify(await tableText(servers.replicaSql, table)) === JSON.stringify(await tableText(servers.primarySql, table));

  it('copies and changes arrive parents first, whatever order the tables were added in', async () => {
    // The child sorts first by name, so the registry lists it before its parent.
    const schema = `CREATE TABLE a_orders (id int PRIMARY KEY, customer int NOT NULL REFERENCES z_customers, note text);
      CREATE INDEX ON a_orders (customer);`;
    for (const sql of [servers.primarySql, servers.replicaSql]) {
      await sql.query(`CREATE TABLE z_customers (id int PRIMARY KEY, name text); ${schema}`);
    }
    await servers.primarySql.query(`INSERT INTO z_customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
      INSERT INTO a_orders SELECT g, 1 + g % 50, 'o' || g FROM generate_series(1, 200) g;`);
    const added = await runCli(['add', 'a_orders', 'z_customers', '--no-wait'], {
      PRIMARY_DATABASE_URL: servers.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicaUrl,
    });
    assert.equal(added.code, 0, added.stderr);
    // Changes in flight with the copies: a new customer and its order, in one transaction.
    await servers.primarySql.query(`BEGIN; INSERT INTO z_customers VALUES (51, 'new');
      INSERT INTO a_orders VALUES (201, 51, 'for the new customer'); COMMIT`);
    service = await startInProcess(servers, { POLL_INTERVAL: '50ms', BATCH_SIZE: '50' });
    await waitFor('both tables copied', async () => (await same('z_customers')) && (await same('a_orders')), 30_000);
    assert.equal(service.status.lastError ?? null, null);

    // The long way (over BATCH_SIZE keys: the batch is streamed and applied statement by
    // statement): new parents and children, a child moved to another parent, parents deleted.
    await servers.primarySql.query(`BEGIN; INSERT INTO z_customers VALUES (52, 'another');
      INSERT INTO a_orders SELECT 300 + g, 52, 's' FROM generate_series(1, 100) g;
      DELETE FROM a_orders WHERE customer = 1; DELETE FROM z_customers WHERE id = 1;
      UPDATE a_orders SET customer = 52 WHERE customer = 2; DELETE FROM z_customers WHERE id = 2; COMMIT`);
    // The usual way: one statement on the replica.
    await servers.primarySql.query(`BEGIN; INSERT INTO z_customers VALUES (53, 'small');
      UPDATE a_orders SET customer = 53 WHERE customer = 3; DELETE FROM z_customers WHERE id = 3; COMMIT`);
    await waitFor('changes replicated', async () => (await same('z_customers')) && (await same('a_orders'))).catch((e) => {
      throw new Error(`${e.message}; replicator: ${service.status.lastError}`);
    });
    assert.equal(service.status.lastError ?? null, null, 'no batch was refused by a foreign key');
  });
});
