/**
 * A replica identity changed on the primary while the replicator streams:
 * the WAL's UPDATEs and DELETEs then say which row they touched by other
 * columns than the key (or not at all, for an UPDATE that leaves the
 * identity's columns alone). The replicator stops with the fix instead of
 * deleting nothing or leaving an old row behind, for a table (its relation
 * message shows the identity) and for a partition of a partitioned table
 * (whose relation message is its root's), and requests a fresh copy: once
 * the identity is set back, the table converges. An identity changed and
 * set back while the replicator was stopped is seen in the WAL: it stops,
 * naming the resync, which converges.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { runCli } from '../support/cli.js';
import { type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode: a replica identity changed while streaming', () => {
  let servers: TestServers;
  let service: Service;

  const owner = () => ({ ...LOGICAL_ENV, PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl });
  const same = async (table: string) =>
    JSON.stringify(await tableText(servers.replicaSql, table)) === JSON.stringify(await tableText(servers.primarySql, table));
  const failingWith = (pattern: RegExp) =>
    waitFor(
      `replication to stop with ${pattern}`,
      async () => service.status.state === 'failing' && pattern.test(service.status.lastError ?? ''),
      30_000,
    ).catch((error) => {
      throw new Error(`${(error as Error).message}; last error: ${service.status.lastError}`);
    });
  const converged = (table: string, what: string) =>
    waitFor(what, () => same(table), 30_000).catch((error) => {
      throw new Error(`${(error as Error).message}; state ${service.status.state}, last error: ${service.status.lastError}`);
    });
  const resync = async (table: string) => {
    const r = await runCli(['resync', table, '--no-wait'], owner());
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    servers = await startLogicalServers();
    await servers.primarySql.query(`
      CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL UNIQUE, v text);
      INSERT INTO accounts SELECT g, 'a' || g || '@example.com', 'v' || g FROM generate_series(1, 5) g;
      CREATE TABLE events (id int, at date, tag text NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
      CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
      CREATE UNIQUE INDEX events_2025_tag ON events_2025 (tag);
      INSERT INTO events SELECT g, date '2025-01-01' + g, 't' || g FROM generate_series(1, 5) g;`);
    const added = await runCli(['add', 'accounts', 'events', '--no-wait'], owner());
    assert.equal(added.code, 0, added.stderr);
    service = await startInProcess(servers, { ...LOGICAL_ENV, POLL_INTERVAL: '100ms' });
    await waitFor('both tables copied', async () => (await same('accounts')) && (await same('events')), 30_000);
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it("a table's identity moved off its key: nothing of it is applied; set back, the table is copied afresh and converges", async () => {
    await servers.primarySql.query(`
      ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_email_key;
      DELETE FROM accounts WHERE id = 1;
      UPDATE accounts SET id = 20 WHERE id = 2;`);
    // First the stream's relation message, then (while it stays so) the catalog, say which identity it is.
    await failingWith(
      /replica identity of accounts \(index on email\) is not its replication key \(id\).*set it back.*copied afresh/,
    );
    // Nothing of it was applied: the replica still has both rows as they were.
    assert.deepEqual(
      (await servers.replicaSql.query('SELECT id FROM accounts WHERE id IN (1, 2, 20) ORDER BY id')).rows.map((r) => r.id),
      [1, 2],
    );
    await servers.primarySql.query('ALTER TABLE accounts REPLICA IDENTITY DEFAULT');
    await converged('accounts', 'accounts copied afresh once the identity was set back');
    await servers.primarySql.query("UPDATE accounts SET v = 'after' WHERE id = 3; DELETE FROM accounts WHERE id = 4");
    await converged('accounts', 'accounts replicating again');
  });

  it("a partition's identity moved off the key: a key UPDATE that sends no old row is not applied; set back, the table converges", async () => {
    await servers.primarySql.query(`
      ALTER TABLE events_2025 REPLICA IDENTITY USING INDEX events_2025_tag;
      UPDATE events SET id = 100 WHERE id = 1;`);
    await failingWith(
      /replica identity of .*events_2025 \(a partition of events\) \(index on tag\) is not its replication key.*copied afresh/,
    );
    assert.deepEqual(
      (await servers.replicaSql.query('SELECT id FROM events WHERE id IN (1, 100) ORDER BY id')).rows.map((r) => r.id),
      [1],
      'the UPDATE was not applied as an insert beside the old row',
    );
    await servers.primarySql.query('ALTER TABLE events_2025 REPLICA IDENTITY DEFAULT');
    await converged('events', 'events copied afresh once the identity was set back');
    await servers.primarySql.query("UPDATE events SET tag = 'x' WHERE id = 2; DELETE FROM events WHERE id = 3");
    await converged('events', 'events replicating again');
  });

  it('an identity changed and set back before the replicator looked: the changes made meanwhile stop it, naming the resync', async () => {
    await service.stop();
    await servers.primarySql.query(`
      ALTER TABLE accounts REPLICA IDENTITY USING INDEX accounts_email_key;
      DELETE FROM accounts WHERE id = 5;
      ALTER TABLE accounts REPLICA IDENTITY DEFAULT;`);
    service = await startInProcess(servers, { ...LOGICAL_ENV, POLL_INTERVAL: '100ms' });
    await failingWith(
      /changes of accounts in the WAL came with a replica identity other than its replication key \(an index on email.*replicator resync accounts/,
    );
    assert.equal((await servers.replicaSql.query('SELECT count(*)::int AS n FROM accounts WHERE id = 5')).rows[0].n, 1);
    await resync('accounts');
    await converged('accounts', 'accounts converged after the resync');
  });
});
