/**
 * Exactly once across crashes: the replicator is killed with SIGKILL right
 * after the replica commit (before the primary hears of it) and right before
 * the replica commit. After a restart every change is on the replica once:
 * a replica trigger that fires on every apply counts the writes per row.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exitedWithin, startReplicator } from '../support/cli.js';
import { writesPerRow as countedWrites, countReplicaWrites } from '../support/count-writes.js';
import { startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';

describe('crash recovery', () => {
  let servers: TestServers;
  let env: Record<string, string>;

  before(async () => {
    servers = await startTestServers();
    env = { PRIMARY_DATABASE_URL: servers.replicator.primaryUrl, REPLICA_DATABASE_URL: servers.replicator.replicaUrl };
    await countReplicaWrites(servers.replicaSql);
  });
  after(async () => {
    await servers.stop();
  });

  const writesPerRow = () => countedWrites(servers.replicaSql);
  const unprocessed = async () =>
    (await servers.primarySql.query('SELECT count(*)::int AS n FROM user_changes WHERE NOT processed')).rows[0].n as number;

  it('after the replica commit, before the acknowledgment: nothing applied twice', async () => {
    await servers.primarySql.query(
      "INSERT INTO users (name, email) SELECT 'crash ' || g, 'c' || g || '@crash.example' FROM generate_series(1, 10) g",
    );
    const crashing = await startReplicator({ ...env, PG_REPLICATOR_FAULT_POINT: 'after-replica-commit' });
    const exit = await exitedWithin(crashing);
    assert.equal(exit.signal, 'SIGKILL', crashing.output());
    assert.equal((await tableText(servers.replicaSql, 'users')).length, 10, 'the replica committed the batch');
    assert.equal(await unprocessed(), 10, 'the primary was never told');

    const replicator = await startReplicator(env);
    try {
      await waitFor('acknowledged after restart', async () => (await unprocessed()) === 0);
      await servers.primarySql.query("UPDATE users SET name = name || ' (after)' WHERE user_id <= 2");
      await waitFor('the next change', async () => (await writesPerRow()).some((r) => r.n === 2));
      assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
      const writes = await writesPerRow();
      assert.equal(writes.length, 10);
      for (const w of writes) assert.equal(w.n, Number(w.user_id) <= 2 ? 2 : 1, `writes to user ${w.user_id}`);
      const position = await servers.replicaSql.query('SELECT changes_applied::int AS n FROM replicator.position');
      assert.equal(position.rows[0].n, 12, 'each change counted once in the position');
    } finally {
      await replicator.stop();
    }
  });

  it('before the replica commit: nothing lost', async () => {
    await servers.replicaSql.query('TRUNCATE applied_writes');
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('Late', 'late@crash.example')");
    const crashing = await startReplicator({ ...env, PG_REPLICATOR_FAULT_POINT: 'before-replica-commit' });
    assert.equal((await exitedWithin(crashing)).signal, 'SIGKILL', crashing.output());
    assert.equal((await writesPerRow()).length, 0, 'the batch was rolled back');

    const replicator = await startReplicator(env);
    try {
      await waitFor('applied after restart', async () => (await unprocessed()) === 0);
      assert.deepEqual(await tableText(servers.replicaSql, 'users'), await tableText(servers.primarySql, 'users'));
      assert.deepEqual(
        (await writesPerRow()).map((r) => r.n),
        [1],
      );
    } finally {
      await replicator.stop();
    }
  });
});
