/**
 * The stream under load and outage, logical mode: a transaction far larger
 * than BATCH_BYTES is spooled to disk and applied whole in one batch; while
 * the replica is down (waiting transactions spooled past BATCH_BYTES) the
 * primary keeps the same walsender (keepalives and status updates keep
 * going out, so wal_sender_timeout, 3 s here, never fires) and the replica
 * converges when it returns; an idle replication set does not pin WAL (the slot's confirmed
 * position follows the primary's keepalives while nothing is outstanding)
 * and the replica's position follows them too;
 * a primary restart is survived.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/service.js';
import { reconnect, type TestServers, tableText, waitFor } from '../support/servers.js';
import { startInProcess } from '../support/service.js';
import { LOGICAL_ENV, startLogicalServers } from './logical-servers.js';

describe('logical mode: large transactions, outages, idle WAL', () => {
  let servers: TestServers;
  let service: Service;

  const equal = async () =>
    JSON.stringify(await tableText(servers.replicaSql, 'users')) === JSON.stringify(await tableText(servers.primarySql, 'users'));
  const activePid = async () =>
    (await servers.primarySql.query("SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'pg_replicator'")).rows[0]
      ?.active_pid as number | null;

  before(async () => {
    servers = await startLogicalServers();
    service = await startInProcess(servers, { ...LOGICAL_ENV, BATCH_BYTES: '64kB', BATCH_SIZE: '100' });
    await waitFor('streaming', async () => (await activePid()) !== null && service.status.snapshot().batches > 0);
  });
  after(async () => {
    await service?.stop();
    await servers.stop();
  });

  it('spools a transaction far above BATCH_BYTES and applies it whole, in one batch', async () => {
    const before = service.status.batches;
    await servers.primarySql.query(
      "INSERT INTO users (name, email) SELECT 'bulk ' || g || repeat('x', 200), 'b' || g || '@bulk.example' FROM generate_series(1, 20000) g",
    );
    await waitFor(
      '20,000 rows on the replica',
      async () => (await tableText(servers.replicaSql, 'users')).length === 20000,
      60_000,
    );
    assert.ok(await equal());
    assert.equal(service.status.batches - before, 1, 'one transaction, one batch');
    await servers.primarySql.query("UPDATE users SET name = 'updated' WHERE user_id % 2 = 0");
    await waitFor('the update of 10,000 rows', equal, 60_000);
  });

  it('keeps the stream (same walsender) while the replica is down, then converges', async () => {
    const pid = await activePid();
    assert.ok(pid);
    await servers.replica.stop();
    // More than BATCH_BYTES of changes wait: spooled to disk, the stream still read.
    for (let i = 0; i < 5; i++) {
      await servers.primarySql.query(
        `INSERT INTO users (name, email) SELECT 'down ${i} ' || g || repeat('y', 100), 'd${i}.' || g || '@down.example' FROM generate_series(1, 400) g`,
      );
    }
    await new Promise((r) => setTimeout(r, 8000));
    assert.equal(await activePid(), pid, 'the primary did not drop the stream for silence');
    await servers.replica.restart();
    await reconnect(servers, 'replica');
    await waitFor('converged after the replica came back', equal, 60_000);
  });

  it('does not pin WAL while idle, and the replica position follows', async () => {
    const batches = service.status.batches;
    await servers.primarySql.query('CREATE TABLE public.unreplicated (id int, pad text)');
    await servers.primarySql.query("INSERT INTO public.unreplicated SELECT g, repeat('z', 500) FROM generate_series(1, 5000) g");
    const { rows } = await servers.primarySql.query('SELECT pg_current_wal_lsn()::text AS l');
    await waitFor(
      "the slot's confirmed position past the unreplicated writes",
      async () => {
        const r = await servers.primarySql.query(
          "SELECT confirmed_flush_lsn >= $1::pg_lsn AS ok FROM pg_replication_slots WHERE slot_name = 'pg_replicator'",
          [rows[0].l],
        );
        return r.rows[0]?.ok === true;
      },
      20_000,
    );
    // The replica's position too (without a batch counted): it holds every transaction up to there.
    await waitFor(
      "the replica's position past the unreplicated writes",
      async () =>
        (
          await servers.replicaSql.query("SELECT lsn >= $1::pg_lsn AS ok FROM replicator.position WHERE name = 'default'", [
            rows[0].l,
          ])
        ).rows[0]?.ok === true,
      20_000,
    );
    assert.equal(service.status.batches, batches, 'no batch counted for a position move');
  });

  it('resumes after a primary restart', async () => {
    await servers.primary.stop();
    await servers.primary.restart();
    await reconnect(servers, 'primary');
    await servers.primarySql.query("INSERT INTO users (name, email) VALUES ('after', 'after@restart.example')");
    await waitFor('the new row on the replica', equal, 60_000);
  });
});
