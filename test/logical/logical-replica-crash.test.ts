/**
 * Logical mode with a replica that crashes before its commits reach disk:
 * the replica commits batches asynchronously (synchronous_commit = off), so
 * the slot may be confirmed only past commits the replica flushed; else a
 * crash of the replica would lose batches the primary no longer sends. Here
 * the replica's WAL writer sleeps 10 s, the replica is crashed (immediate
 * shutdown) right after applying, and must converge after its restart.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { reconnect, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode: replica crash with commits not yet flushed', () => {
  let servers: TestServers;
  let service: Service | undefined;

  before(async () => {
    servers = await startLogicalServers({ wal_writer_delay: '10s' });
    service = await startInProcess(servers, LOGICAL_ENV);
    await waitFor(
      'streaming',
      async () => (await servers.replicaSql.query('SELECT lsn FROM replicator.position')).rows.length === 1,
    );
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('confirms to the slot only what the replica flushed, and converges after the crash', async () => {
    await servers.replicaSql.query('CHECKPOINT');
    await servers.primarySql.query(
      "INSERT INTO users (name, email) SELECT 'crash ' || g, 'crash' || g || '@example.com' FROM generate_series(1, 50) g",
    );
    await waitFor('the 50 rows on the replica', async () => (await tableText(servers.replicaSql, 'users')).length === 50);
    const { rows } = await servers.replicaSql.query(
      `SELECT pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn() AS unflushed, pg_current_wal_insert_lsn()::text AS written,
              (SELECT lsn::text FROM replicator.position) AS lsn`,
    );
    if (rows[0].unflushed) {
      // Time for a wrong confirmation to reach the slot.
      await new Promise((r) => setTimeout(r, 500));
      const slot = await servers.primarySql.query(
        "SELECT confirmed_flush_lsn < $1::pg_lsn AS behind FROM pg_replication_slots WHERE slot_name = 'pg_replicator'",
        [rows[0].lsn],
      );
      // Read after the slot: if the replica has still not flushed its commit, it had not when the slot was read
      // (something else may flush the replica's WAL meanwhile, and then confirming is right).
      const still = await servers.replicaSql.query('SELECT pg_current_wal_flush_lsn() < $1::pg_lsn AS unflushed', [
        rows[0].written,
      ]);
      if (still.rows[0].unflushed) {
        assert.equal(slot.rows[0].behind, true, "the slot is not confirmed past the replica's unflushed commit");
      }
    }
    await service?.stop();
    service = undefined;
    await servers.crash('replica');
    await servers.replica.restart();
    await reconnect(servers, 'replica');
    const survived = (await tableText(servers.replicaSql, 'users')).length;
    process.stdout.write(
      `# replica kept ${survived} of 50 rows through the crash (WAL unflushed before it: ${rows[0].unflushed})\n`,
    );
    service = await startInProcess(servers, LOGICAL_ENV);
    await waitFor('the replica equal to the primary again', async () => {
      const [p, r] = await Promise.all([tableText(servers.primarySql, 'users'), tableText(servers.replicaSql, 'users')]);
      return p.length === 50 && JSON.stringify(p) === JSON.stringify(r);
    });
  });
});
