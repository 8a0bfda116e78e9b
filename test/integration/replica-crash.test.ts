/**
 * The replica commits batches without waiting for its WAL flush, as
 * PostgreSQL's own apply worker does (synchronous_commit = off). A crash of
 * the replica can then lose its last batches, rows and position together,
 * and replication re-applies them from the primary: nothing may be lost, so
 * the primary must keep every change until the replica's commit of it is on
 * disk, even with no retention at all.
 *
 * Here the replica's WAL writer sleeps 10 s (wal_writer_delay), so an
 * applied batch stays in the replica's memory for seconds; pruning runs every
 * 100 ms with RETENTION=0; then the replica is crashed (immediate shutdown,
 * no checkpoint) and restarted, and must end equal to the primary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { reconnect, startTestServers, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';

describe('replica crash with commits not yet flushed', () => {
  let servers: TestServers;
  let service: Service | undefined;

  before(async () => {
    servers = await startTestServers({ settings: { wal_writer_delay: '10s' } });
    service = await startInProcess(servers, { RETENTION: '0s', PRUNE_INTERVAL: '100ms', POLL_INTERVAL: '200ms' });
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  const count = async (client: TestServers['primarySql'], table: string) =>
    Number((await client.query<{ n: string }>(`SELECT pg_catalog.count(*) AS n FROM ${table}`)).rows[0]?.n);

  it('keeps every change on the primary until the replica flushed it, and converges after the crash', async () => {
    await servers.primarySql.query(
      `INSERT INTO users (name, email) SELECT 'crash ' || g, 'crash' || g || '@example.com' FROM pg_catalog.generate_series(1, 50) g`,
    );
    await waitFor('the 50 rows on the replica', async () => (await count(servers.replicaSql, 'users')) === 50);
    // The apply committed asynchronously: its WAL is not all on disk yet.
    const { rows } = await servers.replicaSql.query<{ unflushed: boolean }>(
      'SELECT pg_catalog.pg_current_wal_flush_lsn() < pg_catalog.pg_current_wal_insert_lsn() AS unflushed',
    );
    const unflushed = rows[0]?.unflushed === true;
    // Pruning (every 100 ms, no retention) had its chances; it may only forget what the replica flushed.
    const logged = await count(servers.primarySql, 'public.user_changes');
    if (unflushed) assert.ok(logged >= 50, `the primary kept the changes the replica has not flushed (${logged} of 50 left)`);

    await service?.stop();
    service = undefined;
    await servers.crash('replica');
    await servers.replica.restart();
    await reconnect(servers, 'replica');
    const survived = await count(servers.replicaSql, 'users');
    process.stdout.write(`# replica kept ${survived} of 50 rows through the crash (WAL unflushed before it: ${unflushed})\n`);

    service = await startInProcess(servers, { RETENTION: '0s', PRUNE_INTERVAL: '100ms', POLL_INTERVAL: '200ms' });
    await waitFor('the replica equal to the primary again', async () => {
      const [p, r] = await Promise.all([
        tableText(servers.primarySql, 'users', 'user_id'),
        tableText(servers.replicaSql, 'users', 'user_id'),
      ]);
      return p.length === 50 && JSON.stringify(p) === JSON.stringify(r);
    });
    // And once the replica's commits are on disk, pruning forgets them.
    await servers.replicaSql.query('CHECKPOINT');
    await waitFor('the change log pruned', async () => (await count(servers.primarySql, 'public.user_changes')) === 0);
  });
});
