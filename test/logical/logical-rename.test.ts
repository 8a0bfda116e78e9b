/**
 * A column renamed on the primary while changes made before the rename are
 * still on their way: the WAL names their columns by the old name. The
 * replicator pauses (the replica lacks the new name), the DBA renames the
 * replica's column, and the changes made before the rename arrive with their
 * values in the renamed column, never as NULLs. A replicator that never saw
 * the old name (started after the rename) refuses them, naming the resync,
 * and the resync converges. A column dropped and another added while the
 * replicator ran (paused, the changes made before both waiting) is no
 * rename: the earlier changes leave the dropped column out and the added
 * one takes its missing value.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCli, startReplicator } from '../support/cli.js';
import { type TestServers, tableText, waitFor } from '../support/servers.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode: a column renamed with changes in flight', () => {
  let servers: TestServers;
  let env: Record<string, string>;

  before(async () => {
    servers = await startLogicalServers();
    env = {
      ...LOGICAL_ENV,
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
      POLL_INTERVAL: '100ms',
    };
    await servers.primarySql.query('CREATE TABLE notes (id int PRIMARY KEY, body text, n int)');
    // The owner adds the table (it is created on the replica); the replicator runs as its logins.
    await servers.primarySql.query('CREATE TABLE memos (id int PRIMARY KEY, s text, n int)');
    await servers.primarySql.query("INSERT INTO memos VALUES (1, 'first', 1)");
    const added = await runCli(['add', 'notes', 'memos', '--no-wait'], owner());
    assert.equal(added.code, 0, added.stderr);
  });
  after(async () => {
    await servers.stop();
  });

  const owner = () => ({ ...LOGICAL_ENV, PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl });
  const same = async (table = 'notes') =>
    JSON.stringify(await tableText(servers.replicaSql, table)) === JSON.stringify(await tableText(servers.primarySql, table));

  it('places the earlier changes in the renamed column', async () => {
    const replicator = await startReplicator(env);
    try {
      await servers.primarySql.query("INSERT INTO notes VALUES (1, 'first', 1)");
      await waitFor('the first row', () => same());
      // The replica's column keeps its name for now: replication pauses at the rename, the earlier changes waiting.
      await servers.primarySql.query(`
        INSERT INTO notes VALUES (2, 'before the rename', 2);
        UPDATE notes SET body = 'changed before' WHERE id = 1;
        ALTER TABLE notes RENAME COLUMN body TO text_body;
        INSERT INTO notes VALUES (3, 'after the rename', 3);`);
      await waitFor('the pause naming the column', async () => /text_body/.test(String((await replicator.status()).last_error)));
      await servers.replicaSql.query('ALTER TABLE notes RENAME COLUMN body TO text_body');
      await waitFor('every row, values in the renamed column', () => same(), 30_000);
      assert.deepEqual(await tableText(servers.replicaSql, 'notes'), [
        '(1,"changed before",1)',
        '(2,"before the rename",2)',
        '(3,"after the rename",3)',
      ]);
    } finally {
      await replicator.stop();
    }
  });

  it('refuses what it cannot place when it never saw the earlier name, and the resync converges', async () => {
    await servers.primarySql.query('UPDATE notes SET n = 10 WHERE id = 2; ALTER TABLE notes RENAME COLUMN text_body TO b2');
    await servers.replicaSql.query('ALTER TABLE notes RENAME COLUMN text_body TO b2');
    const replicator = await startReplicator(env);
    try {
      await waitFor('the refusal naming the resync', async () =>
        /before a column was renamed, or dropped and another added.*replicator resync notes/.test(
          String((await replicator.status()).last_error),
        ),
      );
      const resync = await runCli(['resync', 'notes', '--no-wait'], owner());
      assert.equal(resync.code, 0, resync.stderr);
      await waitFor('converged after the resync', () => same(), 30_000);
      assert.equal((await replicator.status()).state, 'running');
    } finally {
      await replicator.stop();
    }
  });

  it('takes a column dropped and another added while it ran for no rename', async () => {
    const replicator = await startReplicator(env);
    try {
      // A row through this process: it has read the table's columns as they are now.
      await servers.primarySql.query("INSERT INTO memos VALUES (0, 'zero', 0)");
      await waitFor('memos replicated', () => same('memos'));
      // A column the replica lacks: replication pauses, and what follows waits in the WAL.
      await servers.primarySql.query('ALTER TABLE memos ADD COLUMN c0 int');
      await waitFor('the pause naming c0', async () => /\bc0\b/.test(String((await replicator.status()).last_error)));
      await servers.primarySql.query("INSERT INTO memos VALUES (2, 'before the drop', 2, 20)");
      await servers.primarySql.query("UPDATE memos SET s = 'changed before the drop', n = 11 WHERE id = 1");
      await servers.primarySql.query('ALTER TABLE memos DROP COLUMN s');
      await servers.primarySql.query('ALTER TABLE memos ADD COLUMN c1 text');
      await servers.primarySql.query("INSERT INTO memos VALUES (3, 3, 30, 'after')");
      await servers.replicaSql.query('ALTER TABLE memos DROP COLUMN s, ADD COLUMN c0 int, ADD COLUMN c1 text');
      await waitFor('every row', () => same('memos'), 30_000);
      assert.deepEqual(await tableText(servers.replicaSql, 'memos'), ['(0,0,,)', '(1,11,,)', '(2,2,20,)', '(3,3,30,after)']);
      assert.equal((await replicator.status()).state, 'running');
    } finally {
      await replicator.stop();
    }
  });
});
