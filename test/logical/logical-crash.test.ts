/**
 * Exactly once in logical mode across SIGKILLs and restarts: killed right
 * after the replica commit (the slot never heard of it, so the primary sends
 * those transactions again, and they are skipped: at or below the replica's
 * stored LSN), and right before it (rolled back, streamed again, applied
 * once). A replica trigger counts every write per row. Then the slot:
 * dropped behind the replicator's back it is a clear error naming the
 * resync; `resync --all` recovers; a slot the server invalidated is the
 * same error; uninstall drops the slot and the publication.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exitedWithin, runCli, startReplicator } from '../support/cli.js';
import { writesPerRow as countedWrites, countReplicaWrites } from '../support/count-writes.js';
import { type TestServers, tableText, waitFor } from '../support/servers.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode: crashes, restarts and the slot', () => {
  let servers: TestServers;
  let env: Record<string, string>;

  before(async () => {
    servers = await startLogicalServers();
    env = {
      ...LOGICAL_ENV,
      PRIMARY_DATABASE_URL: servers.replicator.primaryUrl,
      REPLICA_DATABASE_URL: servers.replicator.replicaUrl,
    };
    await countReplicaWrites(servers.replicaSql);
  });
  after(async () => {
    await servers.stop();
  });

  const writesPerRow = () => countedWrites(servers.replicaSql);
  const equal = async () =>
    JSON.stringify(await tableText(servers.replicaSql, 'users')) === JSON.stringify(await tableText(servers.primarySql, 'users'));
  const insert = (n: number, tag: string) =>
    servers.primarySql.query(
      `INSERT INTO users (name, email) SELECT '${tag} ' || g, '${tag}' || g || '@crash.example' FROM generate_series(1, ${n}) g`,
    );

  it('starts streaming (the initial copy of an empty table)', async () => {
    const replicator = await startReplicator(env);
    try {
      await waitFor('a logical position on the replica', async () => {
        const { rows } = await servers.replicaSql.query('SELECT mode FROM replicator.position');
        return rows[0]?.mode === 'logical';
      });
      assert.match(replicator.output(), /CAPTURE_MODE=logical/);
    } finally {
      await replicator.stop();
    }
  });

  it('after the replica commit, before the slot is told: the resent transactions are skipped', async () => {
    await insert(10, 'crash');
    const crashing = await startReplicator({ ...env, PG_REPLICATOR_FAULT_POINT: 'after-replica-commit' });
    const exit = await exitedWithin(crashing);
    assert.equal(exit.signal, 'SIGKILL', crashing.output());
    assert.equal((await tableText(servers.replicaSql, 'users')).length, 10, 'the replica committed the batch');
    const slot = await servers.primarySql.query(
      "SELECT s.confirmed_flush_lsn < p.lsn AS behind FROM pg_replication_slots s, (SELECT $1::pg_lsn AS lsn) p WHERE s.slot_name = 'pg_replicator'",
      [(await servers.replicaSql.query('SELECT lsn::text AS l FROM replicator.position')).rows[0].l],
    );
    assert.equal(slot.rows[0].behind, true, 'the slot was not confirmed past what it had before');

    const replicator = await startReplicator(env);
    try {
      await servers.primarySql.query("UPDATE users SET name = name || ' (after)' WHERE user_id <= 2");
      await waitFor('the next change', async () => (await writesPerRow()).some((r) => r.n === 2));
      await waitFor('equal', equal);
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
    await insert(1, 'late');
    const crashing = await startReplicator({ ...env, PG_REPLICATOR_FAULT_POINT: 'before-replica-commit' });
    assert.equal((await exitedWithin(crashing)).signal, 'SIGKILL', crashing.output());
    assert.equal((await writesPerRow()).length, 0, 'the batch was rolled back');
    const replicator = await startReplicator(env);
    try {
      await waitFor('applied after restart', equal);
      assert.deepEqual(
        (await writesPerRow()).map((r) => r.n),
        [1],
      );
    } finally {
      await replicator.stop();
    }
  });

  it('a missing slot is an error naming the resync; resync --all recovers', async () => {
    await servers.primarySql.query("SELECT pg_drop_replication_slot('pg_replicator')");
    await insert(3, 'lost');
    const replicator = await startReplicator(env);
    try {
      await waitFor('the slot error', async () => {
        const status = await replicator.status();
        return status.last_error_code === 'CAPTURE_BROKEN' && /replicator resync --all/.test(String(status.last_error));
      });
      const owner = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
      const resync = await runCli(['resync', '--all'], owner);
      assert.equal(resync.code, 0, resync.stderr);
      await waitFor('copied afresh and equal', equal, 30_000);
      await servers.primarySql.query("DELETE FROM users WHERE name LIKE 'lost%'");
      await waitFor('streaming again', equal);
    } finally {
      await replicator.stop();
    }
  });

  it('a slot the server invalidated (max_slot_wal_keep_size) is the same clear error', async () => {
    await servers.primarySql.query("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
    await servers.primarySql.query('SELECT pg_reload_conf()');
    try {
      // The replicator is stopped: WAL piles up behind the slot until a checkpoint invalidates it.
      await waitFor(
        'the slot invalidated',
        async () => {
          await servers.primarySql.query(
            "CREATE TABLE IF NOT EXISTS public.filler (pad text); INSERT INTO public.filler SELECT repeat('w', 1000) FROM generate_series(1, 3000)",
          );
          await servers.primarySql.query('SELECT pg_switch_wal()');
          await servers.primarySql.query('CHECKPOINT');
          const { rows } = await servers.primarySql.query(
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pg_replicator'",
          );
          return rows[0]?.wal_status === 'lost';
        },
        60_000,
      );
      const replicator = await startReplicator(env);
      try {
        await waitFor('the slot error', async () => {
          const status = await replicator.status();
          return (
            status.last_error_code === 'CAPTURE_BROKEN' && /invalidated.*replicator resync --all/.test(String(status.last_error))
          );
        });
      } finally {
        await replicator.stop();
      }
    } finally {
      await servers.primarySql.query('ALTER SYSTEM RESET max_slot_wal_keep_size');
      await servers.primarySql.query('SELECT pg_reload_conf()');
    }
  });

  it('uninstall drops the slot and the publication', async () => {
    const owner = { PRIMARY_DATABASE_URL: servers.primaryUrl, REPLICA_DATABASE_URL: servers.replicaUrl };
    const result = await runCli(['uninstall', 'primary'], owner);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /publication pg_replicator/);
    assert.match(result.stdout, /replication slot pg_replicator/);
    const left = await servers.primarySql.query(
      'SELECT (SELECT count(*) FROM pg_replication_slots)::int AS slots, (SELECT count(*) FROM pg_publication)::int AS pubs',
    );
    assert.deepEqual(left.rows[0], { slots: 0, pubs: 0 });
  });
});
