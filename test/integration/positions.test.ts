/**
 * A position names its source and moves only forward: two replicators on one
 * replica never apply a stale batch (the position check comes before any row
 * is written, on every path); a replicator for a second replica is refused
 * while the primary feeds the first; a position from another database is
 * refused until the user says to start over (`replicator resync --all`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Service } from '../../src/service.js';
import { TEST_LOGICAL } from '../support/capture-mode.js';
import { runCli } from '../support/cli.js';
import { REPLICATOR_ROLE, startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('positions', () => {
  let servers: TestServers;
  const services: Service[] = [];
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    await servers.primarySql.query('CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)');
    await servers.replicaSql.query(`CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL);
      CREATE TABLE regressions (id int, was bigint, now bigint);
      CREATE FUNCTION public.no_regression() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.n < OLD.n THEN INSERT INTO public.regressions VALUES (NEW.id, OLD.n, NEW.n); END IF; RETURN NEW; END $$;
      CREATE TRIGGER no_regression BEFORE UPDATE ON counters FOR EACH ROW EXECUTE FUNCTION public.no_regression();
      ALTER TABLE counters ENABLE ALWAYS TRIGGER no_regression;
      GRANT INSERT ON regressions TO ${REPLICATOR_ROLE};`);
    const added = await runCli(['add', 'counters', '--no-wait'], env);
    assert.equal(added.code, 0, added.stderr);
    await servers.primarySql.query('INSERT INTO counters SELECT g, 0 FROM generate_series(1, 4) g');
  });
  after(async () => {
    for (const s of services) await s.stop();
    await servers.stop();
  });

  it('two replicators on one replica: no stale batch is ever applied, the replica ends equal', async () => {
    services.push(await startInProcess(servers), await startInProcess(servers));
    const writers = new pg.Pool({ connectionString: servers.primaryUrl, max: 4 });
    try {
      await Promise.all(
        [1, 2, 3, 4].map(async (id) => {
          for (let i = 0; i < 150; i++) await writers.query('UPDATE counters SET n = n + 1 WHERE id = $1', [id]);
        }),
      );
    } finally {
      await writers.end();
    }
    await waitFor(
      'both replicas equal',
      async () =>
        JSON.stringify(await tableText(servers.replicaSql, 'counters')) ===
        JSON.stringify(await tableText(servers.primarySql, 'counters')),
    );
    const regressions = await servers.replicaSql.query('SELECT * FROM regressions');
    assert.deepEqual(regressions.rows, []);
    assert.deepEqual(await tableText(servers.replicaSql, 'counters'), ['(1,150)', '(2,150)', '(3,150)', '(4,150)']);
    for (const s of services.splice(0)) await s.stop();
  });

  it('a replicator for a second replica is refused while the primary feeds the first', async () => {
    await servers.replicaSql.query('CREATE DATABASE second');
    const second = servers.replicaUrl.replace(/\/postgres$/, '/second');
    const init = await runCli(['init', 'replica'], { ...env, REPLICA_DATABASE_URL: second });
    assert.equal(init.code, 0, init.stderr);
    const service = await startInProcess({ ...servers, replicaUrl: second }, {}, true);
    services.push(service);
    await waitFor('refused', async () => service.status.lastErrorCode === 'SOURCE_MISMATCH');
    assert.match(service.status.lastError ?? '', /primary: it already feeds replica database postgres of cluster \d+/);
    await service.stop();
    services.pop();
  });

  it('a position from another primary database is refused until the replica starts over', async () => {
    await servers.primarySql.query('CREATE DATABASE other');
    const other = servers.primaryUrl.replace(/\/postgres$/, '/other');
    const otherSql = new pg.Client(other);
    await otherSql.connect();
    try {
      await otherSql.query('CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL); INSERT INTO counters VALUES (1, 7)');
      // (Slot names are the cluster's: in logical mode each database streams through its own.)
      const otherEnv = {
        ...env,
        PRIMARY_DATABASE_URL: other,
        ...(TEST_LOGICAL ? { REPLICATION_SLOT: 'pg_replicator_other' } : {}),
      };
      assert.equal((await runCli(['init', 'primary'], otherEnv)).code, 0);
      assert.equal((await runCli(['add', 'counters', '--no-wait'], otherEnv)).code, 0);
      const service = await startInProcess(
        { ...servers, primaryUrl: other },
        TEST_LOGICAL ? { REPLICATION_SLOT: 'pg_replicator_other' } : {},
        true,
      );
      services.push(service);
      await waitFor('refused', async () => service.status.lastErrorCode === 'SOURCE_MISMATCH');
      assert.match(
        service.status.lastError ?? '',
        /position belongs to database postgres of cluster .* but the primary is database other/,
      );
      assert.match(service.status.lastError ?? '', /replicator resync --all/);
      // The user decides this replica follows `other` from now on.
      const reset = await runCli(['resync', '--all', '--no-wait'], otherEnv);
      assert.equal(reset.code, 0, reset.stderr);
      await waitFor(
        'the replica follows the other database',
        async () => JSON.stringify(await tableText(servers.replicaSql, 'counters')) === JSON.stringify(['(1,7)']),
      );
    } finally {
      await otherSql.end();
    }
  });
});
